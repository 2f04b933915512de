// Sum and BatchMatMul on the wasm backend for the shapes training produces, where tfjs' own kernels
// are slow; every other case goes to the built-in kernel.
//  - Sum over every axis but the last (a bias gradient: 25 M values per Tiny VGG layer at 256 px):
//    one SIMD pass with float64 per-channel accumulators (sumCols), instead of tfjs' transpose + sum.
//  - BatchMatMul with transposeA or transposeB (a dense layer's two gradients): a small inner size
//    (aᵀ·b, the weight gradient, inner size = batch) or few rows (a·bᵀ, the input gradient) run as
//    direct SIMD products; other shapes get the transposed operand laid out once by a SIMD transpose
//    and run on tfjs' non-transposed path (XNNPACK). tfjs' own kernel took 256 ms and 86 ms for
//    Tiny VGG's 186,050 × 64 dense layer at batch 8.
import { BatchMatMul, Sum, util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { runBuiltinKernel as builtin } from './builtins';
import { f32View } from './heap';
import { f32Bytes, simdKernels } from './simd';

interface SumArgs {
  inputs: { x: TensorInfo };
  backend: BackendWasm;
  attrs: { axis: number | number[]; keepDims: boolean };
}

function sum(args: SumArgs): TensorInfo {
  const { inputs: { x }, backend, attrs } = args;
  const rank = x.shape.length;
  const axes = util.parseAxisParam(attrs.axis, x.shape).sort((a, b) => a - b);
  const allButLast = rank >= 2 && axes.length === rank - 1 && axes.every((a, i) => a === i);
  const simd = allButLast && x.dtype === 'float32' ? simdKernels(backend) : null;
  if (simd == null) return builtin(Sum, args);
  const cols = x.shape[rank - 1]!;
  const rows = util.sizeFromShape(x.shape) / cols;
  const out = backend.makeOutput(attrs.keepDims ? x.shape.map((d, i) => (i < rank - 1 ? 1 : d)) : [cols], 'float32');
  simd.withScratch(f32Bytes(cols) + 8 * cols, (p) => {
    const tmp = p, acc = p + f32Bytes(cols);
    simd.f64(acc, cols).fill(0);
    simd.sumCols(simd.ptr(x), 0, rows, cols, tmp, acc);
    f32View(backend, out, Sum, 'out').set(simd.f64(acc, cols));
  });
  return out;
}

interface MatMulArgs {
  inputs: { a: TensorInfo; b: TensorInfo };
  backend: BackendWasm;
  attrs: { transposeA: boolean; transposeB: boolean };
}

/** A copy of `t` with its last two axes swapped (every leading axis kept). */
function transposed(backend: BackendWasm, t: TensorInfo): TensorInfo {
  const simd = simdKernels(backend)!;
  const r = t.shape.length;
  const rows = t.shape[r - 2]!, cols = t.shape[r - 1]!;
  const batch = util.sizeFromShape(t.shape.slice(0, -2));
  const out = backend.makeOutput([...t.shape.slice(0, -2), cols, rows], 'float32');
  simd.transpose(simd.ptr(t), simd.ptr(out), 0, batch, rows, cols);
  return out;
}

function batchMatMul(args: MatMulArgs): TensorInfo {
  const { inputs: { a, b }, backend, attrs } = args;
  const simd = simdKernels(backend);
  if (simd == null || (!attrs.transposeA && !attrs.transposeB) || a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) {
    return builtin(BatchMatMul, args);
  }
  const direct = smallProduct(backend, a, b, attrs);
  if (direct) return direct;
  const at = attrs.transposeA ? transposed(backend, a) : a;
  const bt = attrs.transposeB ? transposed(backend, b) : b;
  try {
    return builtin(BatchMatMul, { inputs: { a: at, b: bt }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } });
  } finally {
    if (at !== a) backend.disposeData(at.dataId);
    if (bt !== b) backend.disposeData(bt.dataId);
  }
}

/** Inner or row size up to which the direct SIMD products are used (their operand then fits in L1). */
const SMALL = 32;

/**
 * The two products of a dense layer's gradient, computed directly (rank-2 or equal batch dims):
 * aᵀ·b with a small inner size (matMulAT) and a·bᵀ with few rows (matMulBT). Null for other shapes.
 */
function smallProduct(backend: BackendWasm, a: TensorInfo, b: TensorInfo, attrs: MatMulArgs['attrs']): TensorInfo | null {
  if (attrs.transposeA === attrs.transposeB) return null;
  const ra = a.shape.length, rb = b.shape.length;
  const batchA = a.shape.slice(0, -2), batchB = b.shape.slice(0, -2);
  if (!util.arraysEqual(batchA, batchB)) return null;
  const batch = util.sizeFromShape(batchA);
  const simd = simdKernels(backend)!;
  if (attrs.transposeA) {
    // a: [K, M], b: [K, N] -> [M, N]
    const K = a.shape[ra - 2]!, M = a.shape[ra - 1]!, N = b.shape[rb - 1]!;
    if (K > SMALL || b.shape[rb - 2] !== K) return null;
    const out = backend.makeOutput([...batchA, M, N], 'float32');
    const pa = simd.ptr(a), pb = simd.ptr(b), po = simd.ptr(out);
    for (let i = 0; i < batch; i++) simd.matMulAT(pa + 4 * i * K * M, pb + 4 * i * K * N, po + 4 * i * M * N, M, K, N, 0, M);
    return out;
  }
  // a: [M, K], b: [N, K] -> [M, N]
  const M = a.shape[ra - 2]!, K = a.shape[ra - 1]!, N = b.shape[rb - 2]!;
  if (M > SMALL || b.shape[rb - 1] !== K) return null;
  const out = backend.makeOutput([...batchA, M, N], 'float32');
  const pa = simd.ptr(a), pb = simd.ptr(b), po = simd.ptr(out);
  for (let i = 0; i < batch; i++) simd.matMulBT(pa + 4 * i * M * K, pb + 4 * i * N * K, po + 4 * i * M * N, M, K, N, 0, N);
  return out;
}

export const sumConfig: KernelConfig = { kernelName: Sum, backendName: 'wasm', kernelFunc: sum as unknown as KernelFunc };
export const batchMatMulConfig: KernelConfig = { kernelName: BatchMatMul, backendName: 'wasm', kernelFunc: batchMatMul as unknown as KernelFunc };
