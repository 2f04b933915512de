import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, setConv2dFilterGradImpl, stopOnednnKernels } from '../src/index';
import { on, relErr, tensor } from './helpers';

beforeAll(async () => {
  await initBackend('wasm', () => {});
  // These test the wasm kernels themselves; the oneDNN kernels that replace them where the addon is
  // built are tested in onednn-kernels.test.ts.
  stopOnednnKernels();
});

type Pad = 'same' | 'valid';
interface ConvCase { x: [number, number, number, number]; f: [number, number, number, number]; s: number | [number, number]; pad: Pad }

const convCases: ConvCase[] = [
  { x: [2, 7, 9, 3], f: [3, 3, 3, 5], s: 1, pad: 'same' },
  { x: [2, 7, 9, 3], f: [3, 3, 3, 5], s: 1, pad: 'valid' },
  { x: [2, 9, 8, 4], f: [3, 3, 4, 6], s: 2, pad: 'same' },
  { x: [2, 9, 8, 4], f: [3, 3, 4, 6], s: 2, pad: 'valid' },
  { x: [3, 6, 5, 5], f: [1, 1, 5, 7], s: 1, pad: 'valid' }, // 1×1, odd channel counts (loop tails)
  { x: [1, 8, 8, 6], f: [1, 1, 6, 8], s: 2, pad: 'same' }, // ResNet projection shortcut
  { x: [1, 11, 10, 2], f: [7, 7, 2, 9], s: 2, pad: 'same' }, // ResNet stem-like
  { x: [2, 8, 10, 3], f: [1, 3, 3, 4], s: [1, 2], pad: 'same' }, // Inception 1×n, mixed strides
  { x: [2, 12, 12, 8], f: [5, 5, 8, 2], s: 1, pad: 'same' },
];

function convGrads(c: ConvCase): tf.Tensor[] {
  const x = tensor(c.x, 1) as tf.Tensor4D;
  const f = tensor(c.f, 2) as tf.Tensor4D;
  const out = tf.conv2d(x, f, c.s, c.pad);
  const dy = tensor(out.shape, 3);
  const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad), dy)))([x, f]);
  return [dx!, df!];
}

describe('Conv2D gradients on wasm match the cpu backend', () => {
  for (const impl of ['gemm', 'xnnpack', 'loop'] as const) {
    for (const c of convCases) {
      it(`${impl}: x ${c.x} filter ${c.f} stride ${c.s} ${c.pad}`, async () => {
        setConv2dFilterGradImpl(impl);
        const [dxCpu, dfCpu] = await on('cpu', () => convGrads(c));
        const [dxWasm, dfWasm] = await on('wasm', () => convGrads(c));
        expect(relErr(dfWasm!, dfCpu!)).toBeLessThan(1e-5);
        expect(relErr(dxWasm!, dxCpu!)).toBeLessThan(1e-5);
        // The gradient is not trivially zero (guards against a kernel that writes nothing).
        expect(dfCpu!.some((v) => Math.abs(v) > 1e-3)).toBe(true);
      });
    }
  }
});

describe('Conv2D filter gradient: the GEMM form in chunks of output rows', () => {
  it('matches the reference loop when the rows are processed in chunks that cross images', async () => {
    // 4 images of 96×96×32 → 3×3×32×8: 113 KB of im2col and dy per output row, so 8 MB chunks hold 74
    // of the 384 rows: six chunks, most of them starting or ending inside an image.
    const run = (impl: 'gemm' | 'loop') => {
      setConv2dFilterGradImpl(impl);
      const x = tensor([4, 96, 96, 32], 7) as tf.Tensor4D;
      const dy = tensor([4, 96, 96, 8], 8) as tf.Tensor4D;
      return [tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 32, 8] }) as tf.Tensor];
    };
    const [ref] = await on('wasm', () => run('loop'));
    const [got] = await on('wasm', () => run('gemm'));
    setConv2dFilterGradImpl('gemm');
    expect(ref!.some((v) => Math.abs(v) > 1)).toBe(true);
    expect(relErr(got!, ref!)).toBeLessThan(1e-5);
  });
});

interface DwCase { x: [number, number, number, number]; f: [number, number, number, number]; s: number; pad: Pad; dil?: number }
const dwCases: DwCase[] = [
  { x: [2, 7, 9, 4], f: [3, 3, 4, 1], s: 1, pad: 'same' },
  { x: [2, 9, 8, 4], f: [3, 3, 4, 1], s: 2, pad: 'same' },
  { x: [2, 9, 8, 3], f: [5, 5, 3, 1], s: 2, pad: 'same' }, // EfficientNet 5×5 stride 2
  { x: [2, 9, 8, 3], f: [3, 3, 3, 1], s: 1, pad: 'valid' },
  { x: [1, 8, 7, 3], f: [3, 3, 3, 2], s: 2, pad: 'valid' }, // channel multiplier 2
];

describe('DepthwiseConv2dNative gradients on wasm match the cpu backend', () => {
  for (const c of dwCases) {
    it(`x ${c.x} filter ${c.f} stride ${c.s} ${c.pad}${c.dil ? ` dilation ${c.dil}` : ''}`, async () => {
      // Kernels are run directly: tfjs-core's depthwise gradient refuses dilation > 1 before reaching them.
      const run = () => {
        const x = tensor(c.x, 4) as tf.Tensor4D;
        const f = tensor(c.f, 5) as tf.Tensor4D;
        const attrs = { strides: c.s, pad: c.pad, dilations: c.dil ?? 1 };
        const y = tf.depthwiseConv2d(x, f, c.s, c.pad, 'NHWC', c.dil ?? 1);
        const dy = tensor(y.shape, 6);
        const df = tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...attrs, filterShape: c.f }) as tf.Tensor;
        const dx = tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: f }, { ...attrs, inputShape: c.x }) as tf.Tensor;
        return [dx, df];
      };
      const [dxCpu, dfCpu] = await on('cpu', run);
      const [dxWasm, dfWasm] = await on('wasm', run);
      expect(dfCpu!.some((v) => Math.abs(v) > 1e-3)).toBe(true);
      expect(relErr(dfWasm!, dfCpu!)).toBeLessThan(1e-5);
      expect(relErr(dxWasm!, dxCpu!)).toBeLessThan(1e-5);
    });
  }

  it('dilation 2 (kernel level) equals the undilated gradient of the zero-expanded filter', async () => {
    // tfjs-core refuses depthwise gradients with dilation > 1 and the cpu kernel ignores dilation, so
    // the reference is a 5×5 filter with the 3×3 taps at even positions, run without dilation.
    const [xs, fs] = [[1, 9, 9, 3], [3, 3, 3, 2]] as const;
    const wasm = await on('wasm', () => {
      const x = tensor([...xs], 11) as tf.Tensor4D;
      const f = tensor([...fs], 12) as tf.Tensor4D;
      const dy = tensor(tf.depthwiseConv2d(x, f, 1, 'same', 'NHWC', 2).shape, 13);
      const attrs = { strides: 1, pad: 'same', dilations: 2 };
      return [
        tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: f }, { ...attrs, inputShape: [...xs] }) as tf.Tensor,
        tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...attrs, filterShape: [...fs] }) as tf.Tensor,
      ];
    });
    const ref = await on('cpu', () => {
      const x = tensor([...xs], 11) as tf.Tensor4D;
      const f = tensor([...fs], 12) as tf.Tensor4D;
      // Interleave zero rows, then zero columns: tap (i, j) lands at (2i, 2j).
      const expanded = tf.slice(tf.reshape(tf.stack([f, tf.zerosLike(f)], 1), [6, 3, 3, 2]), [0, 0, 0, 0], [5, 3, 3, 2]);
      const full = tf.reshape(tf.stack([expanded, tf.zerosLike(expanded)], 2), [5, 6, 3, 2]);
      const f5 = tf.slice(full, [0, 0, 0, 0], [5, 5, 3, 2]) as tf.Tensor4D;
      const dy = tensor(tf.depthwiseConv2d(x, f5, 1, 'same').shape, 13);
      const [dx, df5] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'), dy)))([x, f5]);
      return [dx!, tf.stridedSlice(df5!, [0, 0, 0, 0], [5, 5, 3, 2], [2, 2, 1, 1])];
    });
    expect(relErr(wasm[0]!, ref[0]!)).toBeLessThan(1e-5);
    expect(relErr(wasm[1]!, ref[1]!)).toBeLessThan(1e-5);
  });

  it('tf.grads of depthwiseConv2d (stride 2, same) works on wasm and matches cpu', async () => {
    const g = () => {
      const x = tensor([2, 8, 8, 4], 7) as tf.Tensor4D;
      const f = tensor([3, 3, 4, 1], 8) as tf.Tensor4D;
      const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'))))([x, f]);
      return [dx!, df!];
    };
    const [a, b] = await on('cpu', g);
    const [c, d] = await on('wasm', g);
    expect(relErr(c!, a!)).toBeLessThan(1e-5);
    expect(relErr(d!, b!)).toBeLessThan(1e-5);
  });
});

describe('pooling gradients on wasm (MaxPoolGrad replaced, AvgPoolGrad built-in) match the cpu backend', () => {
  const cases: Array<[string, (x: tf.Tensor4D) => tf.Tensor]> = [
    ['maxPool 2×2/2 valid', (x) => tf.maxPool(x, 2, 2, 'valid')],
    ['maxPool 3×3/2 valid (Inception)', (x) => tf.maxPool(x, 3, 2, 'valid')],
    ['maxPool 3×3/2 same', (x) => tf.maxPool(x, 3, 2, 'same')],
    ['avgPool 3×3/1 same (Inception)', (x) => tf.avgPool(x, 3, 1, 'same')],
    ['avgPool 2×2/2 valid', (x) => tf.avgPool(x, 2, 2, 'valid')],
    ['global average pool (mean)', (x) => tf.mean(x, [1, 2])],
  ];
  for (const [name, op] of cases) {
    it(name, async () => {
      const g = () => [tf.grad((x: tf.Tensor) => {
        const y = op(x as tf.Tensor4D);
        return tf.sum(tf.mul(y, tensor(y.shape, 10))); // non-uniform dy, so routing errors show
      })(tensor([2, 9, 7, 3], 9))];
      const [cpu] = await on('cpu', g);
      const [wasm] = await on('wasm', g);
      expect(relErr(wasm!, cpu!)).toBeLessThan(1e-5);
    });
  }
});
