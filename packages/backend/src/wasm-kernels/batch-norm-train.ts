// Batch normalisation in training mode (batch statistics over every axis but the last) on the wasm
// backend: the same three kernels, and therefore the same gradient, as the WebGPU ones
// (webgpu/batch-norm-train.ts), as loops over the tensors on the wasm heap.
//
// Why: tfjs computes it as tf.moments + FusedBatchNorm and differentiates both op by op; on wasm
// that is ~40 kernels per layer and step, among them Tile (broadcasting [C] to the activation's
// shape), which alone took a third of PartsNet's training step. Here each kernel is one or two
// passes over the activation, with per-channel sums accumulated in float64.
//   forward   stats = [mean, biased variance] (two passes, like tf.moments); y = (x − mean)·r·γ + β, r = rsqrt(var + ε)
//   sums      [S1, S2] = [Σdy, Σdy·(x − mean)]
//   grad      dx = γ·r·(dy − S1/N − (x − mean)·r²·S2/N);  dγ = r·S2  (dβ = S1 is a slice of sums)
// With `relu` (a ReLU fused after the batch norm) the forward pass writes max(y, 0) and the two
// backward kernels take dy where y > 0, recomputing y's sign from x with the forward pass's own
// float32 scale and shift (affineParams): the ReLU's two passes (and its gradient's tensor) are gone.
import { util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD } from '../webgpu/batch-norm-train';
import { f32View, need } from './heap';
import { f32Bytes, simdKernels, type SimdKernels } from './simd';

interface Args {
  inputs: Record<string, TensorInfo | undefined>;
  backend: BackendWasm;
  attrs: { epsilon: number; output?: 'dx' | 'dgamma'; relu?: boolean };
}

/**
 * y = x·scale + shift per channel: scale = γ/√(var + ε), shift = β − mean·scale, in float32. The
 * forward pass and the fused ReLU's mask in the backward kernels compute them alike, so the mask is
 * exactly where the forward output is positive.
 */
function affineParams(st: Float32Array, g: Float32Array, b: Float32Array, cols: number, eps: number, scale: Float32Array, shift: Float32Array): void {
  for (let c = 0; c < cols; c++) {
    scale[c] = g[c]! / Math.sqrt(st[cols + c]! + eps);
    shift[c] = b[c]! - st[c]! * scale[c]!;
  }
}

/** The JavaScript loops' mask of the fused ReLU: whether the forward pass's output at x was positive. */
function positive(x: number, scale: number, shift: number): boolean {
  return Math.fround(x * scale + shift) > 0;
}

function geometry(kernel: string, x: TensorInfo, ...params: (TensorInfo | undefined)[]): { cols: number; rows: number } {
  const cols = x.shape[x.shape.length - 1]!;
  for (const p of params) {
    if (p && !(p.shape.length === 1 && p.shape[0] === cols)) {
      throw new Error(`${kernel} (wasm kernel): x [${x.shape}] needs per-channel parameters of shape [${cols}], got [${p.shape}]`);
    }
  }
  if (x.shape.length < 2) throw new Error(`${kernel} (wasm kernel): x must have rank >= 2, got [${x.shape}]`);
  return { cols, rows: util.sizeFromShape(x.shape) / cols };
}

/** [mean, biased variance] over all rows of x viewed as [rows, cols]; written to `stats` ([2, cols]). */
export function batchNormStats(x: Float32Array, rows: number, cols: number, stats: Float32Array): void {
  const acc = new Float64Array(cols);
  for (let r = 0, i = 0; r < rows; r++) for (let c = 0; c < cols; c++, i++) acc[c] += x[i]!;
  const mean = new Float32Array(cols);
  for (let c = 0; c < cols; c++) mean[c] = acc[c]! / rows;
  acc.fill(0);
  for (let r = 0, i = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++, i++) {
      const d = x[i]! - mean[c]!;
      acc[c] += d * d;
    }
  }
  for (let c = 0; c < cols; c++) {
    stats[c] = mean[c]!;
    stats[cols + c] = acc[c]! / rows;
  }
}

function forward({ inputs, backend, attrs }: Args): TensorInfo[] {
  const k = BATCH_NORM_TRAIN;
  const x = need(inputs.x, k, 'x'), gamma = need(inputs.gamma, k, 'gamma'), beta = need(inputs.beta, k, 'beta');
  const { cols, rows } = geometry(k, x, gamma, beta);
  const y = backend.makeOutput(x.shape, 'float32');
  const stats = backend.makeOutput([2, cols], 'float32');
  const simd = simdKernels(backend);
  const relu = attrs.relu === true;
  if (simd) {
    forwardSimd(simd, backend, x, gamma, beta, y, stats, rows, cols, attrs.epsilon, relu);
    return [y, stats];
  }
  const xs = f32View(backend, x, k, 'x'), ys = f32View(backend, y, k, 'y'), st = f32View(backend, stats, k, 'stats');
  batchNormStats(xs, rows, cols, st);
  const g = f32View(backend, gamma, k, 'gamma'), b = f32View(backend, beta, k, 'beta');
  const scale = new Float32Array(cols), shift = new Float32Array(cols);
  affineParams(st, g, b, cols, attrs.epsilon, scale, shift);
  for (let r = 0, i = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++, i++) {
      const v = xs[i]! * scale[c]! + shift[c]!;
      ys[i] = relu ? Math.max(v, 0) : v;
    }
  }
  return [y, stats];
}

/** The forward pass on the SIMD kernels: the same two-pass statistics, float64 sums, then y = x·scale + shift. */
function forwardSimd(
  simd: SimdKernels, backend: BackendWasm, x: TensorInfo, gamma: TensorInfo, beta: TensorInfo,
  y: TensorInfo, stats: TensorInfo, rows: number, cols: number, epsilon: number, relu: boolean,
): void {
  const k = BATCH_NORM_TRAIN;
  const fb = f32Bytes(cols);
  simd.withScratch(4 * fb + 8 * cols, (s) => {
    const tmp = s, mean = s + fb, scale = s + 2 * fb, shift = s + 3 * fb, acc = s + 4 * fb;
    const xp = simd.ptr(x), st = f32View(backend, stats, k, 'stats');
    simd.f64(acc, cols).fill(0);
    simd.sumCols(xp, 0, rows, cols, tmp, acc);
    const m = simd.f32(mean, cols), a = simd.f64(acc, cols);
    for (let c = 0; c < cols; c++) m[c] = a[c]! / rows;
    a.fill(0);
    simd.sumSqDevCols(xp, mean, 0, rows, cols, tmp, acc);
    const g = f32View(backend, gamma, k, 'gamma'), b = f32View(backend, beta, k, 'beta');
    const sc = simd.f32(scale, cols), sh = simd.f32(shift, cols);
    for (let c = 0; c < cols; c++) {
      st[c] = m[c]!;
      st[cols + c] = a[c]! / rows;
    }
    affineParams(st, g, b, cols, epsilon, sc, sh);
    (relu ? simd.affineReluCols : simd.affineCols)(xp, simd.ptr(y), scale, shift, 0, rows, cols);
  });
}

/** The fused ReLU's inputs (gamma and beta, for affineParams), or null without one. */
function reluParams(k: string, inputs: Args['inputs'], attrs: Args['attrs']): { gamma: TensorInfo; beta: TensorInfo } | null {
  if (attrs.relu !== true) return null;
  const gamma = need(inputs.gamma, k, 'gamma'), beta = need(inputs.beta, k, 'beta');
  geometry(k, need(inputs.x, k, 'x'), gamma, beta);
  return { gamma, beta };
}

/** The backward kernels' copy of the forward pass's scale and shift (affineParams), from stats, γ and β on the heap. */
function reluAffine(
  backend: BackendWasm, k: string, stats: TensorInfo, relu: { gamma: TensorInfo; beta: TensorInfo }, cols: number, eps: number, scale: Float32Array, shift: Float32Array,
): void {
  affineParams(f32View(backend, stats, k, 'stats'), f32View(backend, relu.gamma, k, 'gamma'), f32View(backend, relu.beta, k, 'beta'), cols, eps, scale, shift);
}

function sums({ inputs, backend, attrs }: Args): TensorInfo {
  const k = `${BATCH_NORM_TRAIN}Sums`;
  const dy = need(inputs.dy, k, 'dy'), x = need(inputs.x, k, 'x'), stats = need(inputs.stats, k, 'stats');
  const { cols, rows } = geometry(k, x);
  const relu = reluParams(k, inputs, attrs);
  const out = backend.makeOutput([2, cols], 'float32');
  const simd = simdKernels(backend);
  if (simd) {
    const fb = f32Bytes(cols);
    simd.withScratch(4 * fb + 16 * cols, (s) => {
      const tmp = s, acc1 = s + 2 * fb, acc2 = acc1 + 8 * cols, scale = acc2 + 8 * cols, shift = scale + fb;
      simd.f64(acc1, 2 * cols).fill(0);
      // stats' first row is the mean
      if (relu) {
        reluAffine(backend, k, stats, relu, cols, attrs.epsilon, simd.f32(scale, cols), simd.f32(shift, cols));
        simd.sumsDyReluCols(simd.ptr(dy), simd.ptr(x), simd.ptr(stats), scale, shift, 0, rows, cols, tmp, acc1, acc2);
      } else simd.sumsDyCols(simd.ptr(dy), simd.ptr(x), simd.ptr(stats), 0, rows, cols, tmp, acc1, acc2);
      f32View(backend, out, k, 'sums').set(simd.f64(acc1, 2 * cols));
    });
    return out;
  }
  const d = f32View(backend, dy, k, 'dy'), xs = f32View(backend, x, k, 'x'), st = f32View(backend, stats, k, 'stats');
  const o = f32View(backend, out, k, 'sums');
  const s1 = new Float64Array(cols), s2 = new Float64Array(cols);
  const mean = st.subarray(0, cols);
  const scale = new Float32Array(cols), shift = new Float32Array(cols);
  if (relu) reluAffine(backend, k, stats, relu, cols, attrs.epsilon, scale, shift);
  for (let r = 0, i = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++, i++) {
      const g = relu && !positive(xs[i]!, scale[c]!, shift[c]!) ? 0 : d[i]!;
      s1[c] += g;
      s2[c] += g * (xs[i]! - mean[c]!);
    }
  }
  for (let c = 0; c < cols; c++) {
    o[c] = s1[c]!;
    o[cols + c] = s2[c]!;
  }
  return out;
}

function grad({ inputs, backend, attrs }: Args): TensorInfo {
  const k = BATCH_NORM_TRAIN_GRAD;
  const x = need(inputs.x, k, 'x'), stats = need(inputs.stats, k, 'stats'), gamma = need(inputs.gamma, k, 'gamma');
  const sumsT = need(inputs.sums, k, 'sums');
  const { cols, rows } = geometry(k, x, gamma);
  if (attrs.output === 'dgamma') {
    const out = backend.makeOutput([cols], 'float32');
    const st = f32View(backend, stats, k, 'stats'), s = f32View(backend, sumsT, k, 'sums'), o = f32View(backend, out, k, 'dgamma');
    for (let c = 0; c < cols; c++) o[c] = s[cols + c]! / Math.sqrt(st[cols + c]! + attrs.epsilon);
    return out;
  }
  const dy = need(inputs.dy, k, 'dy');
  const relu = reluParams(k, inputs, attrs);
  const out = backend.makeOutput(x.shape, 'float32');
  // dx = a·dy + b·x + c per channel: a = γr, b = −γr³·S2/N, c = −γr·S1/N − b·mean
  const coefficients = (a: Float32Array, bx: Float32Array, c0: Float32Array): void => {
    const st = f32View(backend, stats, k, 'stats'), g = f32View(backend, gamma, k, 'gamma'), s = f32View(backend, sumsT, k, 'sums');
    for (let c = 0; c < cols; c++) {
      const r = 1 / Math.sqrt(st[cols + c]! + attrs.epsilon);
      a[c] = g[c]! * r;
      bx[c] = (-g[c]! * r * r * r * s[cols + c]!) / rows;
      c0[c] = (-g[c]! * r * s[c]!) / rows - bx[c]! * st[c]!;
    }
  };
  const simd = simdKernels(backend);
  if (simd) {
    const fb = f32Bytes(cols);
    simd.withScratch(5 * fb, (p) => {
      coefficients(simd.f32(p, cols), simd.f32(p + fb, cols), simd.f32(p + 2 * fb, cols));
      if (relu) {
        const scale = p + 3 * fb, shift = p + 4 * fb;
        reluAffine(backend, k, stats, relu, cols, attrs.epsilon, simd.f32(scale, cols), simd.f32(shift, cols));
        simd.gradReluCols(simd.ptr(dy), simd.ptr(x), scale, shift, p, p + fb, p + 2 * fb, simd.ptr(out), 0, rows, cols);
      } else simd.gradCols(simd.ptr(dy), simd.ptr(x), p, p + fb, p + 2 * fb, simd.ptr(out), 0, rows, cols);
    });
    return out;
  }
  const a = new Float32Array(cols), bx = new Float32Array(cols), c0 = new Float32Array(cols);
  coefficients(a, bx, c0);
  const scale = new Float32Array(cols), shift = new Float32Array(cols);
  if (relu) reluAffine(backend, k, stats, relu, cols, attrs.epsilon, scale, shift);
  const xs = f32View(backend, x, k, 'x'), d = f32View(backend, dy, k, 'dy'), o = f32View(backend, out, k, 'dx');
  for (let r = 0, i = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++, i++) {
      const g = relu && !positive(xs[i]!, scale[c]!, shift[c]!) ? 0 : d[i]!;
      o[i] = a[c]! * g + bx[c]! * xs[i]! + c0[c]!;
    }
  }
  return out;
}

export const batchNormTrainWasmConfigs: readonly KernelConfig[] = [
  { kernelName: BATCH_NORM_TRAIN, backendName: 'wasm', kernelFunc: forward as unknown as KernelFunc },
  { kernelName: BATCH_NORM_TRAIN_GRAD, backendName: 'wasm', kernelFunc: grad as unknown as KernelFunc },
  { kernelName: `${BATCH_NORM_TRAIN}Sums`, backendName: 'wasm', kernelFunc: sums as unknown as KernelFunc },
];
