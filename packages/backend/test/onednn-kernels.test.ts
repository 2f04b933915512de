// The oneDNN kernels (src/onednn) against the cpu backend: results and gradients of every kernel
// they replace on wasm, on random shapes (strides, same/valid/explicit padding, batch > 1, odd
// sizes), and the same shapes through the wasm kernels they replace. Skipped, with the reason
// printed, where the addon is not built (scripts/setup.sh builds it where libdnnl-dev is installed).
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { convBiasRelu, createAdam, initBackend, loadOnednn, onednnKernelsState, startOnednnKernels, stopOnednnKernels, wasmThreadsInUse, winogradOn } from '../src/index';
import { setEnvSetting } from '@parts/cli';
import { on, relErr, tensor, trainSteps, values } from './helpers';

// On by default; set here so that a PARTS_ONEDNN=0 in the environment does not skip these tests.
setEnvSetting('PARTS_ONEDNN', '1');
const { addon, detail } = loadOnednn();
if (addon == null) console.warn(`oneDNN kernel tests skipped: ${detail}`);

beforeAll(async () => {
  await initBackend('wasm', () => {});
});

type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid' | number;
interface ConvCase { x: Shape4; f: Shape4; s: number | [number, number]; pad: Pad; d?: number }

/** Pseudo-random conv shapes from a seed (odd sizes, batch 1-3, strides 1-3, every padding kind). */
function randomCases(n: number, seed: number): ConvCase[] {
  let s = seed;
  const next = (lo: number, hi: number) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return lo + ((s >>> 8) % (hi - lo + 1));
  };
  const out: ConvCase[] = [];
  for (let i = 0; i < n; i++) {
    const fh = next(1, 5), fw = next(1, 5);
    const h = next(fh, 17), w = next(fw, 17);
    // A numeric padding only for square filters and strides: tfjs 4.22 computes the output width of
    // a numeric padding from the filter's height and the height stride (every backend, XNNPACK crashes).
    const sh = next(1, 3), sw = next(1, 3);
    const pads: Pad[] = fh === fw && sh === sw ? ['same', 'valid', next(0, 2)] : ['same', 'valid', 'same'];
    out.push({ x: [next(1, 3), h, w, next(1, 9)], f: [fh, fw, 0, next(1, 11)], s: [sh, sw], pad: pads[next(0, 2)]! });
    out[i]!.f[2] = out[i]!.x[3];
  }
  return out;
}

const convCases: ConvCase[] = [
  { x: [2, 16, 16, 3], f: [3, 3, 3, 16], s: 1, pad: 'same' }, // a first layer
  { x: [3, 9, 11, 8], f: [3, 3, 8, 12], s: 2, pad: 'same' }, // odd sizes, stride 2
  { x: [2, 8, 10, 5], f: [3, 3, 5, 7], s: 2, pad: 'same' }, // even size, stride 2: asymmetric 'same'
  { x: [2, 9, 8, 4], f: [3, 3, 4, 6], s: 2, pad: 'valid' }, // last row/column never read
  { x: [1, 8, 8, 6], f: [1, 1, 6, 8], s: 2, pad: 'same' },
  { x: [1, 11, 10, 2], f: [7, 7, 2, 9], s: 2, pad: 'same' },
  { x: [2, 7, 8, 3], f: [3, 3, 3, 4], s: 1, pad: 2 },
  { x: [2, 10, 9, 3], f: [3, 3, 3, 5], s: 1, pad: 'same', d: 2 }, // dilated (forward only: tfjs has no dilated gradient)
  // Winograd F(4,3) where oneDNN has it (3×3, stride 1, channels in multiples of 16).
  { x: [2, 12, 12, 16], f: [3, 3, 16, 32], s: 1, pad: 'same' },
  { x: [3, 9, 11, 32], f: [3, 3, 32, 16], s: 1, pad: 'valid' },
  { x: [2, 10, 10, 16], f: [3, 3, 16, 16], s: 1, pad: 1 },
  ...randomCases(10, 7),
];

const name = (c: ConvCase) => `x ${c.x} filter ${c.f} stride ${c.s} pad ${c.pad}${c.d ? ` dilation ${c.d}` : ''}`;

/** y = conv(x), and for undilated cases dx, dw of sum(y · up). */
function convRun(c: ConvCase): () => tf.Tensor[] {
  return () => {
    const x = tensor(c.x, 1) as tf.Tensor4D, f = tensor(c.f, 2) as tf.Tensor4D;
    const y = tf.conv2d(x, f, c.s, c.pad, 'NHWC', c.d ?? 1);
    if (c.d) return [y];
    const up = tensor(y.shape, 3);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad), up)))([x, f]);
    return [y, dx!, dw!];
  };
}

async function withoutOnednn<T>(f: () => Promise<T>): Promise<T> {
  stopOnednnKernels();
  try {
    return await f();
  } finally {
    startOnednnKernels(wasmThreadsInUse());
  }
}

describe.skipIf(addon == null)('oneDNN kernels on the wasm heap match the cpu backend', () => {
  it('are registered on wasm when the addon loads', async () => {
    await tf.setBackend('wasm');
    expect(onednnKernelsState()).toMatchObject({ active: true });
    expect(onednnKernelsState().detail).toMatch(/^oneDNN \d+\.\d+/);
    expect(onednnKernelsState().kernels).toEqual(['Conv2D', 'FusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'BatchMatMul', '_FusedMatMul', 'MaxPoolGrad']);
  });

  for (const c of convCases) {
    it(`conv2d and both gradients, ${name(c)}`, async () => {
      const ref = await on('cpu', convRun(c));
      const got = await on('wasm', convRun(c));
      expect(ref[0]!.some((v) => Math.abs(v) > 1e-2)).toBe(true);
      for (const [i, what] of ['y', 'dx', 'dw'].entries()) if (ref[i]) expect(relErr(got[i]!, ref[i]!), what).toBeLessThan(2e-5);
    });
  }

  it('differs from the wasm kernels it replaces only by float rounding (and is not them)', async () => {
    const c = convCases[1]!;
    const native = await on('wasm', convRun(c));
    const wasm = await withoutOnednn(() => on('wasm', convRun(c)));
    for (let i = 0; i < 3; i++) expect(relErr(native[i]!, wasm[i]!)).toBeLessThan(2e-5);
    // Different summation order (FMA, other blocking): some value differs in its last bits.
    expect(native.some((a, i) => a.some((v, j) => v !== wasm[i]![j]))).toBe(true);
  });

  it.skipIf(addon?.setWinograd == null)('Winograd convolutions differ from the direct ones only by float rounding (and are not them where oneDNN has them)', async () => {
    const c = convCases.find((x) => x.f[2] === 16 && x.f[3] === 32)!;
    let wino: Float32Array[], direct: Float32Array[];
    try {
      addon!.setWinograd!(true);
      wino = await on('wasm', convRun(c));
      addon!.setWinograd!(false);
      direct = await on('wasm', convRun(c));
    } finally {
      addon!.setWinograd!(winogradOn());
    }
    for (let i = 0; i < 3; i++) expect(relErr(wino[i]!, direct[i]!)).toBeLessThan(2e-5);
    // AVX-512 has oneDNN's Winograd kernels: some value then differs in its last bits.
    if (/AVX-512/.test(addon!.info().isa)) expect(wino.some((a, i) => a.some((v, j) => v !== direct[i]![j]))).toBe(true);
  });

  for (const [xs, fs, s, pad] of [
    [[2, 9, 9, 5], [3, 3, 5, 6], 1, 'valid'],
    [[3, 8, 7, 4], [3, 3, 4, 8], 2, 'same'],
    [[2, 10, 10, 16], [3, 3, 16, 32], 1, 'same'], // Winograd with the bias and the ReLU where oneDNN has it
  ] as const) {
    it(`fused conv2d + bias + relu (FusedConv2D, PartsConvBiasRelu) and gradients, x ${xs} stride ${s} ${pad}`, async () => {
      const run = (parts: boolean) => () => {
        const x = tensor([...xs], 1) as tf.Tensor4D, w = tensor([...fs], 2) as tf.Tensor4D, b = tf.mul(tensor([fs[3]], 3), 0.3) as tf.Tensor1D;
        const st: [number, number] = [s, s];
        const fused = tf.fused.conv2d({ x, filter: w, strides: st, pad, bias: b, activation: 'relu' });
        const linear = tf.fused.conv2d({ x, filter: w, strides: st, pad, bias: b });
        const up = tensor(fused.shape, 4);
        const f = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => {
          const y = parts
            ? convBiasRelu(xx as tf.Tensor4D, ww as tf.Tensor4D, bb as tf.Tensor1D, { strides: st, pad })
            : tf.relu(tf.add(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, st, pad), bb));
          return tf.sum(tf.mul(y, up));
        };
        return [fused, linear, ...tf.grads(f)([x, w, b])];
      };
      const ref = await on('cpu', run(false));
      const got = await on('wasm', run(true));
      for (const [i, what] of ['relu', 'linear', 'dx', 'dw', 'db'].entries()) expect(relErr(got[i]!, ref[i]!), what).toBeLessThan(2e-5);
      expect(ref[0]!.some((v) => v === 0) && ref[0]!.some((v) => v > 0)).toBe(true); // the ReLU cuts somewhere
    });
  }

  for (const [as, bs, ta, tb] of [
    [[5, 7], [7, 3], false, false],
    [[16, 300], [300, 33], false, false], // a dense layer
    [[300, 16], [300, 33], true, false], // its weight gradient
    [[16, 33], [300, 33], false, true], // its input gradient
    [[4, 6, 5], [4, 5, 9], false, false],
    [[4, 5, 6], [1, 9, 5], true, true], // b broadcast over the batch (forward only: tfjs' gradient does not reduce it)
    [[1, 6, 5], [3, 5, 2], false, false], // a broadcast
  ] as const) {
    it(`matMul ${as} × ${bs}${ta ? ' (a transposed)' : ''}${tb ? ' (b transposed)' : ''} and its gradients`, async () => {
      const broadcast = as.length === 3 && as[0] !== bs[0];
      const run = () => {
        const a = tensor([...as], 5), b = tensor([...bs], 6);
        const y = tf.matMul(a, b, ta, tb);
        if (broadcast) return [y];
        const up = tensor(y.shape, 7);
        return [y, ...tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.matMul(p, q, ta, tb), up)))([a, b])];
      };
      const ref = await on('cpu', run);
      const got = await on('wasm', run);
      expect(got.length).toBe(broadcast ? 1 : 3);
      for (const [i, what] of ['y', 'da', 'db'].slice(0, got.length).entries()) expect(relErr(got[i]!, ref[i]!), what).toBeLessThan(2e-5);
    });
  }

  it('fused matMul with bias and relu (a dense layer), linear and relu', async () => {
    const run = () => {
      const a = tensor([8, 40], 8) as tf.Tensor2D, b = tensor([40, 12], 9) as tf.Tensor2D, bias = tensor([12], 10);
      return [
        tf.fused.matMul({ a, b, bias, activation: 'relu' }),
        tf.fused.matMul({ a, b, bias }),
        tf.fused.matMul({ a: b, b: a, transposeA: true, transposeB: true, bias: tensor([8], 11) }),
      ];
    };
    const ref = await on('cpu', run);
    const got = await on('wasm', run);
    for (let i = 0; i < 3; i++) expect(relErr(got[i]!, ref[i]!)).toBeLessThan(2e-5);
    expect(ref[0]!.some((v) => v === 0)).toBe(true);
  });

  for (const [xs, k, s, pad] of [
    [[2, 8, 8, 5], 2, 2, 'valid'],
    [[3, 9, 7, 4], 2, 2, 'valid'], // odd sizes: the last row/column is never in a window
    [[2, 9, 9, 3], 3, 2, 'same'],
    [[2, 10, 7, 6], 3, 1, 'same'],
    [[1, 7, 9, 2], [3, 2], [2, 1], 'valid'],
  ] as const) {
    it(`max-pool gradient, x ${xs} window ${k} stride ${s} ${pad}`, async () => {
      const run = () => {
        const x = tensor([...xs], 12) as tf.Tensor4D;
        const y = tf.maxPool(x, k as number | [number, number], s as number | [number, number], pad);
        const up = tensor(y.shape, 13);
        return [y, tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, k as number | [number, number], s as number | [number, number], pad), up)))(x)];
      };
      const ref = await on('cpu', run);
      const got = await on('wasm', run);
      expect(relErr(got[0]!, ref[0]!)).toBe(0);
      expect(relErr(got[1]!, ref[1]!)).toBeLessThan(1e-6);
    });
  }

  it('a seeded training run is reproduced exactly on the same engine, and stays close to the wasm kernels and cpu', async () => {
    const a = await train('wasm');
    const b = await train('wasm');
    expect(a.losses[a.losses.length - 1]).toBeLessThan(a.losses[0]!); // it learns
    expect(b.losses).toEqual(a.losses);
    for (let k = 0; k < a.weights.length; k++) expect(Array.from(b.weights[k]!)).toEqual(Array.from(a.weights[k]!));
    const wasm = await withoutOnednn(() => train('wasm'));
    const cpu = await train('cpu');
    for (const other of [wasm, cpu]) {
      for (let i = 0; i < a.losses.length; i++) expect(a.losses[i]).toBeCloseTo(other.losses[i]!, 4);
      for (let k = 0; k < a.weights.length; k++) expect(relErr(a.weights[k]!, other.weights[k]!), Object.keys(SHAPES)[k]).toBeLessThan(1e-4);
    }
  });

  it('leaves no tensor or heap allocation behind', async () => {
    await tf.setBackend('wasm');
    const before = tf.memory().numTensors, ids = tf.backend().numDataIds();
    for (const c of convCases.slice(0, 3)) tf.dispose(tf.tidy(convRun(c)));
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.backend().numDataIds()).toBe(ids);
  });
});

/** The training test's variables. No bias before the batch norm: its gradient is 0 up to rounding, which Adam would blow up to steps of ±lr. */
const SHAPES: Record<string, number[]> = { c1: [3, 3, 3, 16], b1: [16], c2: [3, 3, 16, 16], gamma: [16], beta: [16], c3: [3, 3, 16, 16], d: [16 * 36, 5], db: [5] };

/**
 * Four Adam steps of a small conv net with every kernel oneDNN takes over (ReLU convolutions, a
 * Winograd one where oneDNN has it (c2: 3×3, 16 → 16, stride 1), a strided one, max pool, batch
 * norm, a dense layer), batch 4 at 24 px: big enough for oneDNN's
 * blocked kernels and both threads. Returns the losses and the final weights.
 */
function train(backend: string): Promise<{ losses: number[]; weights: Float32Array[] }> {
  return trainSteps({
    backend,
    shapes: SHAPES,
    seed: 200,
    scale: 0.2,
    steps: 4,
    optimizer: () => (backend === 'wasm' ? createAdam(0.01) : tf.train.adam(0.01)),
    data: () => ({ x: tf.tensor4d(values(4 * 24 * 24 * 3, 17), [4, 24, 24, 3]), y: tf.oneHot(tf.tensor1d([0, 3, 1, 4], 'int32'), 5) }),
    loss: (v, x, y) => {
      let h = backend === 'wasm'
        ? convBiasRelu(x as tf.Tensor4D, v.c1 as tf.Tensor4D, v.b1 as tf.Tensor1D, { strides: [1, 1], pad: 'same' })
        : tf.relu(tf.add(tf.conv2d(x as tf.Tensor4D, v.c1 as tf.Tensor4D, 1, 'same'), v.b1!)) as tf.Tensor4D;
      h = tf.maxPool(h, 2, 2, 'valid'); // 12 × 12
      h = tf.conv2d(h, v.c2 as tf.Tensor4D, 1, 'same');
      const { mean, variance } = tf.moments(h, [0, 1, 2]);
      h = tf.relu(tf.batchNorm4d(h, mean as tf.Tensor1D, variance as tf.Tensor1D, v.beta as tf.Tensor1D, v.gamma as tf.Tensor1D, 1e-3));
      h = tf.relu(tf.conv2d(h, v.c3 as tf.Tensor4D, 2, 'same')); // 6 × 6
      const logits = tf.add(tf.matMul(tf.reshape(h, [4, 16 * 36]), v.d as tf.Tensor2D), v.db!);
      return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
    },
  });
}
