import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, stopOnednnKernels } from '../src/index';
import { setConv2dInputGradImpl } from '../src/wasm-kernels/index';
import { on, relErr, tensor } from './helpers';

beforeAll(async () => {
  await initBackend('wasm', () => {});
  // These test the wasm kernels themselves; the oneDNN kernels that replace them where the addon is
  // built are tested in onednn-kernels.test.ts.
  stopOnednnKernels();
});
afterEach(() => setConv2dInputGradImpl('xnnpack'));

type Pad = 'same' | 'valid' | number;
type Shape4 = [number, number, number, number];
interface Case { x: Shape4; f: Shape4; s: number | [number, number]; pad: Pad }

const cases: Case[] = [
  { x: [2, 7, 9, 3], f: [3, 3, 3, 5], s: 1, pad: 'same' }, // stride 1: dy is used without a copy
  { x: [2, 7, 9, 3], f: [3, 3, 3, 5], s: 1, pad: 'valid' },
  { x: [2, 9, 8, 4], f: [3, 3, 4, 6], s: 2, pad: 'same' },
  { x: [2, 8, 9, 4], f: [3, 3, 4, 6], s: 2, pad: 'same' }, // even height: asymmetric 'same' padding
  { x: [2, 9, 8, 4], f: [3, 3, 4, 6], s: 2, pad: 'valid' }, // last column never read by the forward conv
  { x: [3, 6, 5, 5], f: [1, 1, 5, 7], s: 1, pad: 'valid' }, // 1×1, odd channel counts
  { x: [1, 8, 8, 6], f: [1, 1, 6, 8], s: 2, pad: 'same' }, // 1×1 stride 2 (ResNet shortcut)
  { x: [1, 11, 10, 2], f: [7, 7, 2, 9], s: 2, pad: 'same' }, // 7×7 stride 2 (ResNet stem)
  { x: [2, 13, 8, 3], f: [7, 7, 3, 1], s: 1, pad: 'valid' }, // filter nearly as wide as the input, 1 output channel
  { x: [2, 8, 10, 3], f: [1, 3, 3, 4], s: [1, 2], pad: 'same' }, // 1×n, mixed strides
  { x: [2, 9, 11, 3], f: [3, 5, 3, 4], s: [2, 1], pad: 'valid' }, // n×m filter, mixed strides
  { x: [2, 12, 12, 8], f: [5, 5, 8, 2], s: 1, pad: 'same' },
  { x: [3, 11, 7, 5], f: [5, 5, 5, 3], s: 2, pad: 'valid' },
  { x: [2, 7, 8, 3], f: [3, 3, 3, 4], s: 1, pad: 4 }, // explicit padding > K−1: dy is cropped
  { x: [2, 9, 7, 3], f: [3, 3, 3, 4], s: 2, pad: 3 },
];

function inputGrad(c: Case): tf.Tensor[] {
  const x = tensor(c.x, 1) as tf.Tensor4D;
  const f = tensor(c.f, 2) as tf.Tensor4D;
  const dy = tensor(tf.conv2d(x, f, c.s, c.pad).shape, 3);
  const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, f, c.s, c.pad), dy)))(x);
  return [dx];
}

/**
 * Tensors left on wasm by `f` (which must dispose what it returns itself). Also checks the backend's
 * data ids: the kernel's intermediates live there, not in the engine's tensor count.
 */
async function leaked(f: () => Promise<void>): Promise<number> {
  await tf.setBackend('wasm');
  const before = tf.memory().numTensors;
  const idsBefore = tf.backend().numDataIds();
  await f();
  await tf.setBackend('wasm');
  expect(tf.backend().numDataIds()).toBe(idsBefore);
  return tf.memory().numTensors - before;
}

describe('wasm Conv2DBackpropInput (XNNPACK) matches the cpu backend', () => {
  for (const c of cases) {
    it(`x ${c.x} filter ${c.f} stride ${c.s} pad ${c.pad}`, async () => {
      const [cpu] = await on('cpu', () => inputGrad(c));
      let wasm: Float32Array | undefined;
      expect(await leaked(async () => { [wasm] = await on('wasm', () => inputGrad(c)); })).toBe(0);
      expect(cpu!.some((v) => Math.abs(v) > 1e-3)).toBe(true);
      expect(relErr(wasm!, cpu!)).toBeLessThan(1e-5);
    });
  }

  it('agrees with the TypeScript loop and the built-in kernel it replaces', async () => {
    const c = cases[2]!;
    setConv2dInputGradImpl('loop');
    const [loop] = await on('wasm', () => inputGrad(c));
    setConv2dInputGradImpl('builtin');
    const [builtin] = await on('wasm', () => inputGrad(c));
    setConv2dInputGradImpl('xnnpack');
    const [xnn] = await on('wasm', () => inputGrad(c));
    expect(relErr(xnn!, loop!)).toBeLessThan(1e-5);
    expect(relErr(xnn!, builtin!)).toBeLessThan(1e-5);
  });

  it('processes a large strided batch in chunks with the same result', async () => {
    // 40·(2·63+1)²·16·4 B ≈ 41 MB of dilated dy > the 32 MB chunk limit: two chunks.
    const c: Case = { x: [40, 128, 128, 3], f: [3, 3, 3, 16], s: 2, pad: 'same' };
    const run = () => {
      const f = tensor(c.f, 2) as tf.Tensor4D;
      const dy = tensor([40, 64, 64, 16], 3) as tf.Tensor4D;
      return [tf.conv2dTranspose(dy, f, c.x, c.s, c.pad)];
    };
    const [cpu] = await on('cpu', run);
    let wasm: Float32Array | undefined;
    expect(await leaked(async () => { [wasm] = await on('wasm', run); })).toBe(0);
    expect(relErr(wasm!, cpu!)).toBeLessThan(1e-5);
  });
});

describe('tf.conv2dTranspose on wasm', () => {
  const tcases: { dy: Shape4; f: Shape4; out: Shape4; s: number | [number, number]; pad: 'same' | 'valid' }[] = [
    { dy: [2, 4, 5, 6], f: [3, 3, 3, 6], out: [2, 8, 10, 3], s: 2, pad: 'same' },
    { dy: [2, 4, 5, 6], f: [3, 3, 3, 6], out: [2, 9, 11, 3], s: 2, pad: 'valid' },
    { dy: [1, 5, 3, 4], f: [2, 2, 5, 4], out: [1, 10, 6, 5], s: 2, pad: 'valid' }, // 2×2 up-sampling
    { dy: [3, 6, 6, 2], f: [5, 5, 7, 2], out: [3, 10, 10, 7], s: 1, pad: 'valid' },
    { dy: [1, 3, 4, 3], f: [4, 1, 2, 3], out: [1, 6, 12, 2], s: [2, 3], pad: 'same' },
  ];
  for (const c of tcases) {
    it(`dy ${c.dy} filter ${c.f} → ${c.out} stride ${c.s} ${c.pad}`, async () => {
      const run = () => [tf.conv2dTranspose(tensor(c.dy, 7) as tf.Tensor4D, tensor(c.f, 8) as tf.Tensor4D, c.out, c.s, c.pad)];
      const [cpu] = await on('cpu', run);
      await tf.setBackend('wasm');
      const t = tf.tidy(run)[0]!;
      expect(t.shape).toEqual(c.out);
      const wasm = (await t.data()) as Float32Array;
      t.dispose();
      expect(relErr(wasm, cpu!)).toBeLessThan(1e-5);
    });
  }

  it('rejects NCHW with an error naming the kernel and the format', async () => {
    await tf.setBackend('wasm');
    const dy = tf.zeros([1, 2, 4, 4]);
    const f = tf.zeros([3, 3, 3, 2]);
    expect(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f },
      { inputShape: [1, 3, 4, 4], strides: 1, pad: 'same', dataFormat: 'NCHW' }))
      .toThrow(/Conv2DBackpropInput.*NHWC.*NCHW/);
    tf.dispose([dy, f]);
  });
});
