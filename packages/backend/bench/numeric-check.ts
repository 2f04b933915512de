// Numeric check of the WebGPU training kernels against the cpu backend: each case computes a
// convolution forward pass and both of its gradients (and one small conv net's full gradient)
// on both backends from the same random inputs and reports ‖gpu − cpu‖ / ‖cpu‖.
import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
// tfjs-layers registers tfjs-core's gradient functions (tf.grad needs them).
import '@tensorflow/tfjs-layers';
// The reference backend.
import '@tensorflow/tfjs-backend-cpu';
import { convBiasRelu, convBiasReluAvailable } from '../src/webgpu/conv-bias-relu';
import { createAdam, fusedAdamAvailable } from '../src/webgpu/fused-adam';
import { fusedBatchNormTrain, fusedBatchNormTrainAvailable } from '../src/webgpu/batch-norm-train';
import { WINOGRAD_CANDIDATES, WINOGRAD_FILTER_GRAD_CANDIDATES } from '../src/webgpu/autotune';
import { parseVariant } from '../src/webgpu/kernels/kernel-choice';
import { winogradUnfit } from '../src/webgpu/kernels/winograd';
import { envSetting, setEnvSetting } from '@parts/cli';

export interface ConvCase {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number;
  pad: 'same' | 'valid';
  dilations?: number;
  /** Check the forward pass and the input gradient only (the filter gradient is left out). */
  noFilterGrad?: boolean;
}

export const CONV_CASES: ConvCase[] = [
  { name: '3x3 s1 valid 3->50 (tinyvgg conv1)', x: [2, 12, 12, 3], filter: [3, 3, 3, 50], strides: 1, pad: 'valid' },
  { name: '3x3 s1 valid 50->50 (tinyvgg conv2)', x: [2, 10, 10, 50], filter: [3, 3, 50, 50], strides: 1, pad: 'valid' },
  { name: '3x3 s1 same 8->6 split-K (K=4096)', x: [4, 32, 32, 8], filter: [3, 3, 8, 6], strides: 1, pad: 'same' },
  { name: '3x3 s1 same 16->24', x: [1, 9, 7, 16], filter: [3, 3, 16, 24], strides: 1, pad: 'same' },
  { name: '3x3 s1 same 13->70 (two channel blocks)', x: [2, 11, 6, 13], filter: [3, 3, 13, 70], strides: 1, pad: 'same' },
  { name: '3x3 s2 same 8->12', x: [2, 9, 9, 8], filter: [3, 3, 8, 12], strides: 2, pad: 'same' },
  { name: '3x3 s2 valid 5->7', x: [1, 10, 11, 5], filter: [3, 3, 5, 7], strides: 2, pad: 'valid' },
  { name: '1x1 s1 same 20->70', x: [2, 5, 5, 20], filter: [1, 1, 20, 70], strides: 1, pad: 'same' },
  { name: '1x1 s2 valid 6->9', x: [1, 7, 7, 6], filter: [1, 1, 6, 9], strides: 2, pad: 'valid' },
  { name: '7x7 s2 same 3->16 (resnet stem)', x: [1, 16, 16, 3], filter: [7, 7, 3, 16], strides: 2, pad: 'same' },
  { name: '1x7 s1 same 6->5 (inception)', x: [1, 8, 9, 6], filter: [1, 7, 6, 5], strides: 1, pad: 'same' },
  { name: '3x3 dil2 same 4->6 (forward only)', x: [1, 9, 9, 4], filter: [3, 3, 4, 6], strides: 1, pad: 'same', dilations: 2 },
];

export interface CheckResult {
  name: string;
  /** Relative L2 error of forward output, input gradient and filter gradient (NaN = non-finite). */
  errors: Record<string, number>;
  ok: boolean;
}

function relErr(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) return NaN;
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

/** Values of `fn(inputs)` on a backend: inputs are plain arrays so both backends see the same data. */
async function evalOn(backend: string, fn: (t: tf.Tensor[]) => tf.Tensor[], inputs: { shape: number[]; values: Float32Array }[]): Promise<Float32Array[]> {
  const prev = tf.getBackend();
  await tf.setBackend(backend);
  try {
    const outs = tf.tidy(() => fn(inputs.map((i) => tf.tensor(i.values, i.shape))));
    // Asynchronous reads: synchronous ones do not work on WebGPU in Node.
    const vals = await Promise.all(outs.map((o) => o.data() as Promise<Float32Array>));
    tf.dispose(outs);
    return vals;
  } finally {
    await tf.setBackend(prev);
  }
}

/** Runs `make` on the cpu backend (randomValues reads synchronously, which WebGPU cannot in Node). */
async function onCpu<T>(make: () => T): Promise<T> {
  const prev = tf.getBackend();
  await tf.setBackend('cpu');
  try {
    return make();
  } finally {
    await tf.setBackend(prev);
  }
}

function result(name: string, errors: Record<string, number>, tol: number): CheckResult {
  return { name, errors, ok: Object.values(errors).every((e) => e <= tol) };
}

function randomValues(shape: number[], seed: number): { shape: number[]; values: Float32Array } {
  // Fresh non-zero data per case (zeros would hide unwritten outputs and bad indexing).
  const t = tf.tidy(() => tf.randomNormal(shape, 0, 1, 'float32', seed));
  const values = t.dataSync() as Float32Array;
  t.dispose();
  return { shape, values: Float32Array.from(values) };
}

/** A conv case's inputs (same values on every backend) and the function computing forward, dx, dw. */
async function convCaseSetup(c: ConvCase, seed: number) {
  const fwdOnly = (c.dilations ?? 1) > 1;
  const { outShape } = backend_util.computeConv2DInfo(c.x, c.filter, c.strides, c.dilations ?? 1, c.pad);
  const inputs = await onCpu(() => [randomValues(c.x, seed), randomValues(c.filter, seed + 1), randomValues(outShape, seed + 2)]);
  const fn = (t: tf.Tensor[]): tf.Tensor[] => {
    const [xt, wt, dyt] = t as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    const y = tf.conv2d(xt, wt, c.strides, c.pad, 'NHWC', c.dilations ?? 1);
    if (fwdOnly) return [y];
    const dx = tf.conv2dTranspose(dyt, wt, c.x, c.strides, c.pad); // = Conv2DBackpropInput
    if (c.noFilterGrad) return [y, dx];
    const dw = backpropFilter(xt, dyt, c);
    return [y, dx, dw];
  };
  const labels = fwdOnly ? ['forward'] : c.noFilterGrad ? ['forward', 'inputGrad'] : ['forward', 'inputGrad', 'filterGrad'];
  return { inputs, fn, labels };
}

export async function checkConvCase(c: ConvCase, gpu: string, seed: number, tol = 1e-4): Promise<CheckResult> {
  const { inputs, fn, labels } = await convCaseSetup(c, seed);
  const [ref, got] = [await evalOn('cpu', fn, inputs), await evalOn(gpu, fn, inputs)];
  const errors: Record<string, number> = {};
  labels.forEach((l, i) => (errors[l] = relErr(got[i], ref[i])));
  return result(c.name, errors, tol);
}

function backpropFilter(x: tf.Tensor4D, dy: tf.Tensor4D, c: ConvCase): tf.Tensor {
  // tf.grad of conv2d w.r.t. the filter runs exactly the Conv2DBackpropFilter kernel.
  return tf.grad((w: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x, w as tf.Tensor4D, c.strides, c.pad), dy)))(tf.zeros(c.filter));
}

/** The cases checkWinograd runs: the 3×3 stride-1 conv cases plus one at a realistic size (many workgroups, partial tiles, split K). */
export const WINOGRAD_CASES: ConvCase[] = [
  ...CONV_CASES.filter((c) => c.filter[0] === 3 && c.filter[1] === 3 && c.strides === 1 && (c.dilations ?? 1) === 1),
  { name: '3x3 s1 same 50->50 at 27x21', x: [2, 27, 21, 50], filter: [3, 3, 50, 50], strides: 1, pad: 'same' },
];

/**
 * Every Winograd variant (WINOGRAD_CANDIDATES) the device can run, forced through PARTS_CONV_TILES
 * on the 3×3 stride-1 cases plus one at a realistic size (many workgroups, partial tiles, split K):
 * forward and input gradient against cpu, and the filter gradient's F(3×3, 2×2) kernel. Variants needing more workgroup memory than the device
 * allows are listed as skipped in the result's name. `candidates` (all of WINOGRAD_CANDIDATES by default) lets a test
 * check one variant at a time, on the same inputs.
 */
export async function checkWinograd(gpu: string, seed: number, tol = 1e-4, candidates: string[] = WINOGRAD_CANDIDATES): Promise<CheckResult> {
  const cases = WINOGRAD_CASES;
  const limits = (tf.engine().findBackend(gpu) as unknown as { device?: GPUDevice }).device?.limits;
  const variants = candidates.filter((v) => limits && !winogradUnfit(parseVariant(v).winograd!, limits));
  const skipped = candidates.filter((v) => !variants.includes(v));
  const saved = envSetting('PARTS_CONV_TILES');
  const errors: Record<string, number> = {};
  try {
    for (const c of cases) {
      const { inputs, fn } = await convCaseSetup(c, (seed += 3));
      const ref = await evalOn('cpu', fn, inputs); // once per case: the cpu backend is the slow part
      for (const v of variants) {
        // (The filter gradient's kernel takes only the channel block: checked with its candidates.)
        const fg = WINOGRAD_FILTER_GRAD_CANDIDATES.includes(v);
        setEnvSetting('PARTS_CONV_TILES', `forward:${v},inputGrad:${v}${fg ? `,filterGrad:${v}` : ''}`);
        const got = await evalOn(gpu, fn, inputs);
        errors[`${v} ${c.name} forward`] = relErr(got[0], ref[0]);
        errors[`${v} ${c.name} inputGrad`] = relErr(got[1], ref[1]);
        if (fg) errors[`${v} ${c.name} filterGrad`] = relErr(got[2], ref[2]);
      }
    }
  } finally {
    setEnvSetting('PARTS_CONV_TILES', saved);
  }
  return result(`Winograd variants${skipped.length ? ` (skipped, over the device's workgroup memory or invocations: ${skipped.join(', ')})` : ''}`, errors, tol);
}

/** Gradient of a small conv net (conv-relu-conv-relu-maxpool-dense-sigmoid BCE) on both backends. */
export async function checkSmallNet(gpu: string, seed: number, tol = 1e-4): Promise<CheckResult> {
  const shapes = { x: [4, 14, 14, 3], w1: [3, 3, 3, 10], b1: [10], w2: [3, 3, 10, 12], b2: [12], wd: [5 * 5 * 12, 1], bd: [1] };
  const vals = await onCpu(() => Object.entries(shapes).map(([, s], i) => randomValues(s, seed + i)));
  const labelValues = { shape: [4, 1], values: Float32Array.from([1, 0, 1, 1]) };
  const fn = (t: tf.Tensor[]): tf.Tensor[] => {
    const [x, ...params] = t;
    const y = t[t.length - 1];
    const loss = (...p: tf.Tensor[]) => {
      const [w1, b1, w2, b2, wd, bd] = p;
      let h = tf.relu(tf.add(tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 1, 'valid'), b1));
      h = tf.relu(tf.add(tf.conv2d(h as tf.Tensor4D, w2 as tf.Tensor4D, 1, 'valid'), b2));
      h = tf.maxPool(h as tf.Tensor4D, 2, 2, 'valid');
      const logits = tf.add(tf.matMul(tf.reshape(h, [4, -1]), wd), bd);
      return tf.losses.sigmoidCrossEntropy(y, logits);
    };
    const { value, grads } = tf.valueAndGrads(loss)(params.slice(0, 6));
    return [value, ...grads];
  };
  const inputs = [...vals, labelValues];
  const [ref, got] = [await evalOn('cpu', fn, inputs), await evalOn(gpu, fn, inputs)];
  const names = ['loss', 'dW1', 'db1', 'dW2', 'db2', 'dWdense', 'dbdense'];
  const errors: Record<string, number> = {};
  names.forEach((n, i) => (errors[n] = relErr(got[i], ref[i])));
  return result('small conv net gradients', errors, tol);
}

/**
 * tf.fused.conv2d outside a gradient tape (the FusedConv2D kernel: inference and linear-activation
 * convolutions) with and without bias, for every activation; PReLU goes to the stock kernel.
 */
export async function checkFusedConv(gpu: string, seed: number, tol = 1e-4): Promise<CheckResult> {
  const activations = ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu', 'prelu'] as const;
  const cases = activations.flatMap((activation, i) => [
    { activation, bias: true, x: [2, 9, 8, 6], filter: [3, 3, 6, 10], strides: 1 + (i % 2), pad: 'same' as const },
    { activation, bias: false, x: [1, 7, 7, 5], filter: [1, 1, 5, 70], strides: 1, pad: 'valid' as const },
  ]);
  const inputs = await onCpu(() =>
    cases.flatMap((c, i) => [
      randomValues(c.x, seed + 4 * i),
      randomValues(c.filter, seed + 4 * i + 1),
      randomValues([c.filter[3]], seed + 4 * i + 2),
      randomValues([c.filter[3]], seed + 4 * i + 3),
    ]),
  );
  const fn = (t: tf.Tensor[]) =>
    cases.map((c, i) => {
      const [x, w, b, alphas] = t.slice(4 * i, 4 * i + 4);
      // Values around 0 exercise both branches of each activation (x and w are N(0, 1)).
      return tf.fused.conv2d({
        x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: c.strides, pad: c.pad,
        bias: c.bias ? b : undefined, activation: c.activation, leakyreluAlpha: 0.3,
        preluActivationWeights: c.activation === 'prelu' ? alphas : undefined,
      });
    });
  const [ref, got] = [await evalOn('cpu', fn, inputs), await evalOn(gpu, fn, inputs)];
  const errors: Record<string, number> = {};
  cases.forEach((c, i) => (errors[`${c.activation}${c.bias ? '+bias' : ''} [${c.filter}] s${c.strides}`] = relErr(got[i], ref[i])));
  return result('fused conv2d (bias, activations)', errors, tol);
}

/** Depthwise filters are [fH, fW, C, multiplier]; tfjs has no depthwise gradients with dilation. */
export type DepthwiseCase = Omit<ConvCase, 'dilations'>;

export const DEPTHWISE_CASES: DepthwiseCase[] = [
  { name: 'dw 3x3 s1 same C=8', x: [2, 9, 10, 8], filter: [3, 3, 8, 1], strides: 1, pad: 'same' },
  { name: 'dw 5x5 s2 same C=70 (two channel groups)', x: [2, 11, 9, 70], filter: [5, 5, 70, 1], strides: 2, pad: 'same' },
  { name: 'dw 3x3 s1 valid C=6 mult 2, long K', x: [4, 40, 40, 6], filter: [3, 3, 6, 2], strides: 1, pad: 'valid' },
];

/** Depthwise convolution forward and both gradients (ours: the filter gradient). */
export async function checkDepthwiseCase(c: DepthwiseCase, gpu: string, seed: number, tol = 1e-4): Promise<CheckResult> {
  const { outShape } = backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad, undefined, true);
  const [x, w, dy] = await onCpu(() => [randomValues(c.x, seed), randomValues(c.filter, seed + 1), randomValues(outShape, seed + 2)]);
  const fn = (t: tf.Tensor[]): tf.Tensor[] => {
    const [xt, wt, dyt] = t as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad), dyt));
    const [dx, dw] = tf.grads(f)([xt, wt]);
    return [tf.depthwiseConv2d(xt, wt, c.strides, c.pad), dx, dw];
  };
  const [ref, got] = [await evalOn('cpu', fn, [x, w, dy]), await evalOn(gpu, fn, [x, w, dy])];
  const errors: Record<string, number> = {};
  ['forward', 'inputGrad', 'filterGrad'].forEach((l, i) => (errors[l] = relErr(got[i], ref[i])));
  return result(c.name, errors, tol);
}

/**
 * Matrix products: the dense-layer shape our split-K kernel takes (plain and fused with bias and
 * activation), and shapes that stay with the stock kernels (batched, transposed, small K).
 */
export async function checkMatMuls(gpu: string, seed: number, tol = 1e-4): Promise<CheckResult> {
  const cases = [
    { name: 'split-K 5x9000 · 9000x7', a: [5, 9000], b: [9000, 7] },
    { name: 'split-K fused bias+relu 3x5000 · 5000x64', a: [3, 5000], b: [5000, 64], activation: 'relu' as const },
    { name: 'split-K fused sigmoid 1x4096 · 4096x1', a: [1, 4096], b: [4096, 1], activation: 'sigmoid' as const },
    { name: 'stock: small K 20x30 · 30x40', a: [20, 30], b: [30, 40] },
    { name: 'stock: transposed 6000x4 ᵀ · 6000x5', a: [6000, 4], b: [6000, 5], transposeA: true },
  ];
  const inputs = await onCpu(() =>
    cases.flatMap((c, i) => [randomValues(c.a, seed + 3 * i), randomValues(c.b, seed + 3 * i + 1), randomValues([c.b[1]], seed + 3 * i + 2)]),
  );
  const fn = (t: tf.Tensor[]) =>
    cases.map((c, i) => {
      const [a, b, bias] = t.slice(3 * i, 3 * i + 3) as tf.Tensor2D[];
      return c.activation
        ? tf.fused.matMul({ a, b, bias, activation: c.activation, transposeA: c.transposeA ?? false })
        : tf.matMul(a, b, c.transposeA ?? false);
    });
  const [ref, got] = [await evalOn('cpu', fn, inputs), await evalOn(gpu, fn, inputs)];
  const errors: Record<string, number> = {};
  cases.forEach((c, i) => (errors[c.name] = relErr(got[i], ref[i])));
  return result('matrix products', errors, tol);
}

/**
 * convBiasRelu (FusedConv2D forward, PartsReluGrad backward) against relu(conv2d + b) on cpu: the
 * value and the gradients for x, w and b of a weighted sum of the output.
 */
export async function checkConvBiasRelu(gpu: string, seed: number, tol = 1e-4): Promise<CheckResult> {
  type Shape4 = [number, number, number, number];
  const cases: { name: string; x: Shape4; w: Shape4; strides: number; pad: 'same' | 'valid' }[] = [
    { name: '3x3 s1 valid 3->50', x: [2, 12, 12, 3], w: [3, 3, 3, 50], strides: 1, pad: 'valid' as const },
    { name: '3x3 s2 same 8->12', x: [2, 9, 9, 8], w: [3, 3, 8, 12], strides: 2, pad: 'same' as const },
    { name: '1x1 s1 same 20->70', x: [1, 5, 5, 20], w: [1, 1, 20, 70], strides: 1, pad: 'same' as const },
  ];
  const inputs = await onCpu(() =>
    cases.flatMap((c, i) => {
      const { outShape } = backend_util.computeConv2DInfo(c.x, c.w, c.strides, 1, c.pad);
      return [randomValues(c.x, seed + 4 * i), randomValues(c.w, seed + 4 * i + 1), randomValues([c.w[3]], seed + 4 * i + 2), randomValues(outShape, seed + 4 * i + 3)];
    }),
  );
  let fusedRuns = 0;
  const fn = (t: tf.Tensor[]) =>
    cases.flatMap((c, i) => {
      const [x, w, b, weights] = t.slice(4 * i, 4 * i + 4);
      const layer = (xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor) => {
        if (convBiasReluAvailable()) {
          fusedRuns++;
          return convBiasRelu(xs as tf.Tensor4D, ws as tf.Tensor4D, bs as tf.Tensor1D, { strides: [c.strides, c.strides], pad: c.pad });
        }
        return tf.relu(tf.add(tf.conv2d(xs as tf.Tensor4D, ws as tf.Tensor4D, c.strides, c.pad), bs));
      };
      const { value, grads } = tf.valueAndGrads((xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor) => tf.sum(tf.mul(layer(xs, ws, bs), weights)) as tf.Scalar)([x, w, b]);
      return [value, ...grads, layer(x, w, b)];
    });
  const [ref, got] = [await evalOn('cpu', fn, inputs), await evalOn(gpu, fn, inputs)];
  const errors: Record<string, number> = {};
  const labels = ['loss', 'dx', 'dw', 'db', 'forward'];
  cases.forEach((c, i) => labels.forEach((l, j) => (errors[`${c.name} ${l}`] = relErr(got[5 * i + j], ref[5 * i + j]))));
  // On the GPU run the fused op must have been used (else this compared cpu's formula with itself).
  errors['fused op used on gpu'] = fusedRuns === 2 * cases.length ? 0 : 1;
  return result('conv + bias + relu with its own gradient', errors, tol);
}

/**
 * Batch norm with batch statistics (the fused WebGPU kernel on the GPU, tf.moments + tf.batchNorm on
 * cpu): output, batch mean and variance, and the gradients for x, gamma and beta of a weighted sum.
 */
export async function checkBatchNormTrain(gpu: string, seed: number, tol = 1e-4): Promise<CheckResult> {
  const shapes = [[4, 5, 6, 7], [300, 70], [2, 33, 31, 70], [1, 2, 1, 3]];
  const inputs = await onCpu(() =>
    shapes.flatMap((sh, i) => {
      const c = sh[sh.length - 1];
      // An offset mean, as after a ReLU: the variance must not come from E[x²] − mean².
      const x = randomValues(sh, seed + 4 * i);
      x.values.forEach((v, j) => (x.values[j] = 3 + v));
      return [x, randomValues([c], seed + 4 * i + 1), randomValues([c], seed + 4 * i + 2), randomValues(sh, seed + 4 * i + 3)];
    }),
  );
  let fusedRuns = 0;
  const fn = (t: tf.Tensor[]) =>
    shapes.flatMap((sh, i) => {
      const [x, gamma, beta, weights] = t.slice(4 * i, 4 * i + 4);
      const bn = (xs: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        if (fusedBatchNormTrainAvailable()) {
          fusedRuns++;
          return fusedBatchNormTrain(xs, g as tf.Tensor1D, b as tf.Tensor1D, 1e-3);
        }
        const m = tf.moments(xs, [...Array(sh.length - 1).keys()]);
        return { y: tf.batchNorm(xs, m.mean, m.variance, b, g, 1e-3), mean: m.mean, variance: m.variance };
      };
      const { value, grads } = tf.valueAndGrads((xs: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(bn(xs, g, b).y, weights)) as tf.Scalar)([x, gamma, beta]);
      const { mean, variance } = bn(x, gamma, beta);
      return [value, ...grads, mean, variance];
    });
  const [ref, got] = [await evalOn('cpu', fn, inputs), await evalOn(gpu, fn, inputs)];
  const errors: Record<string, number> = {};
  const labels = ['output·w', 'dx', 'dgamma', 'dbeta', 'mean', 'variance'];
  shapes.forEach((sh, i) => labels.forEach((l, j) => (errors[`[${sh}] ${l}`] = relErr(got[6 * i + j], ref[6 * i + j]))));
  errors['fused op used on gpu'] = fusedRuns === 2 * shapes.length ? 0 : 1;
  return result('batch norm with batch statistics', errors, tol);
}

let adamRun = 0;

/**
 * Three Adam steps on three variables from the same start and gradients: createAdam's fused WebGPU
 * update against tfjs' own Adam on cpu (which createAdam is there).
 */
export async function checkFusedAdam(gpu: string, seed: number, tol = 1e-5): Promise<CheckResult> {
  const shapes = [[3, 3, 4, 5], [5], [300, 7]];
  const steps = 3;
  const inputs = await onCpu(() => [
    ...shapes.map((sh, i) => randomValues(sh, seed + i)),
    ...Array.from({ length: steps }, (_, k) => shapes.map((sh, i) => randomValues(sh, seed + 10 * (k + 1) + i))).flat(),
  ]);
  let fusedRuns = 0;
  const fn = (t: tf.Tensor[]) => {
    const run = adamRun++;
    const vars = shapes.map((_, i) => tf.variable(t[i], true, `adamcheck${run}_${i}`));
    const opt = createAdam(0.05);
    if (fusedAdamAvailable()) fusedRuns++;
    for (let k = 0; k < steps; k++) {
      opt.applyGradients(Object.fromEntries(vars.map((v, i) => [v.name, t[shapes.length * (k + 1) + i]])));
    }
    const out = vars.map((v) => v.clone());
    opt.dispose();
    vars.forEach((v) => v.dispose());
    return out;
  };
  const [ref, got] = [await evalOn('cpu', fn, inputs), await evalOn(gpu, fn, inputs)];
  const errors: Record<string, number> = {};
  shapes.forEach((sh, i) => (errors[`variable [${sh}]`] = relErr(got[i], ref[i])));
  // The GPU run must have taken the fused path (else this compared tfjs' Adam with itself).
  errors['fused update used on gpu'] = fusedRuns === 1 ? 0 : 1;
  return result('Adam (fused update)', errors, tol);
}

/** tf.sum over the leading axes (bias gradients: our column sum) and other axes (stock kernel). */
export async function checkSums(gpu: string, seed: number, tol = 1e-5): Promise<CheckResult> {
  const cases: { shape: number[]; axis: number[]; keepDims?: boolean }[] = [
    { shape: [4, 7, 9, 50], axis: [0, 1, 2] },
    { shape: [3, 130], axis: [0] },
    { shape: [5000, 3], axis: [0], keepDims: true },
    { shape: [2, 33, 31, 70], axis: [0, 1, 2] },
    { shape: [4, 5, 6], axis: [1, 2] },
  ];
  const inputs = await onCpu(() => cases.map((c, i) => randomValues(c.shape, seed + i)));
  const fn = (t: tf.Tensor[]) => [
    ...t.map((x, i) => tf.sum(x, cases[i].axis, cases[i].keepDims ?? false)),
    ...t.map((x, i) => tf.mean(x, cases[i].axis, cases[i].keepDims ?? false)),
  ];
  const [ref, got] = [await evalOn('cpu', fn, inputs), await evalOn(gpu, fn, inputs)];
  const errors: Record<string, number> = {};
  cases.forEach((c, i) => (errors[`sum [${c.shape}] axis ${c.axis}`] = relErr(got[i], ref[i])));
  cases.forEach((c, i) => (errors[`mean [${c.shape}] axis ${c.axis}`] = relErr(got[cases.length + i], ref[cases.length + i])));
  return result('sum and mean over axes', errors, tol);
}

export async function runNumericCheck(gpu = 'webgpu', log: (m: string) => void = console.log): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  let seed = (Date.now() % 100000) + 1;
  for (const c of CONV_CASES) {
    const r = await checkConvCase(c, gpu, (seed += 10));
    results.push(r);
    log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}: ${Object.entries(r.errors).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
  }
  for (const c of DEPTHWISE_CASES) {
    const r = await checkDepthwiseCase(c, gpu, (seed += 10));
    results.push(r);
    log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}: ${Object.entries(r.errors).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
  }
  for (const check of [checkFusedConv, checkWinograd, checkConvBiasRelu, checkMatMuls, checkSums, checkFusedAdam, checkBatchNormTrain, checkSmallNet]) {
    const r = await check(gpu, (seed += 10));
    results.push(r);
    log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}: ${Object.entries(r.errors).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
  }
  return results;
}
