import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { convBiasRelu, convBiasReluAvailable, createAdam, fusedAdamAvailable, initBackend, stopOnednnKernels } from '../src/index';
import { on, relErr, tensor, values } from './helpers';

beforeAll(async () => {
  await initBackend('wasm', () => {});
  // These test the wasm kernels themselves; the oneDNN kernels that replace them where the addon is
  // built are tested in onednn-kernels.test.ts.
  stopOnednnKernels();
});

const simdOn = process.env.PARTS_WASM_SIMD_KERNELS !== '0';

describe('fused training ops on wasm match tfjs ops on the cpu backend', () => {
  it('are available on wasm with the SIMD kernels', async () => {
    await tf.setBackend('wasm');
    expect(convBiasReluAvailable()).toBe(simdOn);
    expect(fusedAdamAvailable()).toBe(simdOn);
  });

  for (const [xShape, wShape, strides, pad] of [
    [[2, 9, 9, 5], [3, 3, 5, 6], [1, 1], 'valid'],
    [[2, 8, 7, 4], [3, 3, 4, 8], [2, 2], 'same'],
  ] as const) {
    it.runIf(simdOn)(`relu(conv2d + bias) and its gradients, x ${xShape} filter ${wShape} stride ${strides[0]} ${pad}`, async () => {
      const run = (fused: boolean) => () => {
        const x = tensor([...xShape], 1) as tf.Tensor4D, w = tensor([...wShape], 2) as tf.Tensor4D, b = tf.mul(tensor([wShape[3]], 3), 0.3) as tf.Tensor1D;
        const up = tensor([xShape[0], 1, 1, wShape[3]], 4);
        const f = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => {
          const y = fused
            ? convBiasRelu(xx as tf.Tensor4D, ww as tf.Tensor4D, bb as tf.Tensor1D, { strides: [strides[0], strides[1]], pad })
            : tf.relu(tf.add(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, [strides[0], strides[1]], pad), bb));
          return tf.sum(tf.mul(y, up));
        };
        const y = fused
          ? convBiasRelu(x, w, b, { strides: [strides[0], strides[1]], pad })
          : tf.relu(tf.add(tf.conv2d(x, w, [strides[0], strides[1]], pad), b));
        return [y, ...tf.grads(f)([x, w, b])];
      };
      const ref = await on('cpu', run(false));
      const got = await on('wasm', run(true));
      for (const [i, name] of ['y', 'dx', 'dw', 'db'].entries()) expect(relErr(got[i]!, ref[i]!), name).toBeLessThan(1e-5);
      expect(ref[0]!.some((v) => v === 0) && ref[0]!.some((v) => v > 0)).toBe(true); // the ReLU cuts somewhere
    });
  }

  it.runIf(simdOn)('Adam: three steps give the same variables as tfjs\' Adam on cpu', async () => {
    const run = (backend: string) => async () => {
      await tf.setBackend(backend);
      const a = tf.variable(tensor([7, 5], 5), true, `adam_a_${backend}`);
      const b = tf.variable(tensor([3], 6), true, `adam_b_${backend}`);
      const opt = backend === 'wasm' ? createAdam(0.01) : tf.train.adam(0.01);
      for (let i = 0; i < 3; i++) {
        opt.minimize(() => tf.add(tf.sum(tf.square(tf.sub(a, 0.3))), tf.sum(tf.mul(b, tensor([3], 7 + i)))) as tf.Scalar, false, [a, b]);
      }
      const out = [await a.data(), await b.data()] as Float32Array[];
      opt.dispose();
      a.dispose();
      b.dispose();
      return out;
    };
    const ref = await run('cpu')();
    const got = await run('wasm')();
    expect(relErr(got[0]!, ref[0]!)).toBeLessThan(1e-6);
    expect(relErr(got[1]!, ref[1]!)).toBeLessThan(1e-6);
    expect(relErr(ref[0]!, Float32Array.from(tensor([7, 5], 5).dataSync()))).toBeGreaterThan(1e-3); // the steps moved it
  });

  for (const [shape, axis] of [[[2, 5, 6, 9], [0, 1, 2]], [[40, 12], 0], [[3, 4, 5], [0, 2]], [[3, 4, 5], -1]] as const) {
    it(`sum of x ${shape} over ${JSON.stringify(axis)}`, async () => {
      const run = () => [tf.sum(tensor([...shape], 8), axis as number | number[]), tf.sum(tensor([...shape], 8), axis as number | number[], true)];
      const ref = await on('cpu', run);
      const got = await on('wasm', run);
      expect(relErr(got[0]!, ref[0]!)).toBeLessThan(1e-5);
      expect(relErr(got[1]!, ref[1]!)).toBeLessThan(1e-5);
    });
  }

  it.runIf(simdOn)('ReLU\'s gradient runs as one PartsReluGrad pass on wasm and matches tfjs\' on cpu for finite values', async () => {
    const run = () => {
      // Exact zeros among the inputs: the gradient is 0 there on both.
      const x = tf.mul(tf.round(tf.mul(tensor([3, 7, 5, 4], 11), 4)), 0.25);
      const up = tensor([3, 7, 5, 4], 12);
      return [tf.relu(x), tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(tf.relu(xx), up)))(x), x];
    };
    const ref = await on('cpu', run);
    await tf.setBackend('wasm');
    const kernels = (await tf.profile(() => { tf.tidy(run).forEach((t) => t.dispose()); })).kernels.map((k) => k.name);
    expect(kernels).toContain('PartsReluGrad');
    expect(kernels).not.toContain('Step');
    const got = await on('wasm', run);
    expect(relErr(got[0]!, ref[0]!)).toBe(0);
    expect(relErr(got[1]!, ref[1]!)).toBe(0);
    expect(ref[2]!.some((v) => v === 0) && ref[2]!.some((v) => v < 0) && ref[2]!.some((v) => v > 0)).toBe(true);
  });

  it.runIf(simdOn)('Relu on wasm (one SIMD pass) gives the built-in\'s values: NaN stays NaN, -0 becomes 0', async () => {
    const v = values(3 * 7 * 5 * 3, 14); // 315 values: the last 3 go through the scalar tail
    v[0] = NaN; v[1] = -0; v[2] = 0; v[5] = NaN; v[v.length - 1] = -0; v[v.length - 2] = NaN; // in the vector part and the tail
    const run = () => [tf.relu(tf.tensor(v, [3, 7, 5, 3]))];
    const ref = await on('cpu', run);
    await tf.setBackend('wasm');
    expect(tf.getKernel('Relu', 'wasm')?.kernelFunc.name).toBe('relu');
    const got = await on('wasm', run);
    expect(Array.from(got[0]!, (x) => (Object.is(x, -0) ? '-0' : String(x)))).toEqual(Array.from(ref[0]!, (x) => (Object.is(x, -0) ? '0' : String(x))));
    expect(got[0]!.filter((x) => Number.isNaN(x))).toHaveLength(3);
    expect(got[0]!.some((x) => x > 0)).toBe(true);
  });

  it('Identity (tf.clone) on wasm shares the input\'s memory; each tensor frees it only when the last goes', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as unknown as { refCount(id: object): number };
    const x = tensor([64, 64], 13);
    const buffers = tf.memory().numDataBuffers;
    const want = await x.data();
    const c = tf.clone(x);
    expect(c.dataId).toBe(x.dataId);
    expect(backend.refCount(x.dataId)).toBe(2);
    expect(tf.memory().numDataBuffers).toBe(buffers); // no copy
    x.dispose();
    expect(Array.from(await c.data())).toEqual(Array.from(want));
    expect(tf.memory().numDataBuffers).toBe(buffers);
    c.dispose();
    expect(tf.memory().numDataBuffers).toBe(buffers - 1);
    // Strings keep the built-in kernel (their values are not on the wasm heap).
    const s = tf.tensor(['a', 'bc']);
    const sc = tf.clone(s);
    expect(await sc.data()).toEqual(['a', 'bc']);
    tf.dispose([s, sc]);
  });

  // small inner size (aᵀ·b direct), few rows (a·bᵀ direct), large (transpose + XNNPACK), batched, odd sizes
  for (const [aShape, bShape, tA, tB] of [
    [[8, 301], [8, 64], true, false], [[6, 40], [301, 40], false, true], [[50, 41], [50, 37], true, false],
    [[45, 33], [39, 33], false, true], [[2, 5, 7], [2, 5, 3], true, false], [[2, 3, 9], [2, 6, 9], false, true],
    [[9, 7], [7, 9], true, true],
  ] as const) {
    it(`matMul ${aShape}${tA ? 'ᵀ' : ''} × ${bShape}${tB ? 'ᵀ' : ''}`, async () => {
      const run = () => [tf.matMul(tensor([...aShape], 9), tensor([...bShape], 10), tA, tB)];
      const ref = await on('cpu', run);
      const got = await on('wasm', run);
      expect(relErr(got[0]!, ref[0]!)).toBeLessThan(1e-5);
    });
  }
});
