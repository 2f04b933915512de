// BatchMatMul and _FusedMatMul on WebGPU for one shape family: a single product with a tiny output
// and a huge shared dimension, as in Tiny VGG's dense layer (32 × 186,050 · 186,050 × 64). The stock
// kernel picks its split-K program for it, which adds partial products with emulated float atomics
// into the 2,048 outputs (2.2 ms per call on the H200, 0.35 TFLOP/s); ours writes the partial
// products to a buffer and adds them in a second pass (runSplitKMatMul). Every other shape goes to
// the stock kernels.
import {
  _FusedMatMul,
  BatchMatMul,
  util,
  type _FusedMatMulAttrs,
  type BatchMatMulAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { runSplitKMatMul } from './conv-gemm';
import { FUSED_ACTIVATIONS, type Epilogue, type FusedActivation } from './epilogue';
import { runStock, type KernelArgs, type StockKernels } from './stock';

/** Ours when: one product (no batch), no transposes, K ≥ 4096, output ≤ 16k values. */
export function splitKShape(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): { M: number; K: number; N: number } | null {
  if (transposeA || transposeB || a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const batchA = util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = util.sizeFromShape(b.shape.slice(0, -2));
  if (batchA !== 1 || batchB !== 1) return null;
  const [M, K] = a.shape.slice(-2);
  const [K2, N] = b.shape.slice(-2);
  if (K !== K2 || K < 4096 || M * N > 16384) return null;
  return { M, K, N };
}

export function matMulKernelConfigs(stock: StockKernels): KernelConfig[] {
  const fallback = (name: string, args: KernelArgs): TensorInfo => runStock(stock, name, args);
  const outShape = (a: TensorInfo, M: number, N: number) => [...a.shape.slice(0, -2), M, N];
  const batchMatMul = (args: KernelArgs): TensorInfo => {
    const { a, b } = args.inputs;
    const { transposeA, transposeB } = args.attrs as unknown as BatchMatMulAttrs;
    const s = splitKShape(a, b, transposeA, transposeB);
    if (!s) return fallback(BatchMatMul, args);
    return runSplitKMatMul(args.backend, a, b, s.M, s.K, s.N, outShape(a, s.M, s.N));
  };
  const fusedMatMul = (args: KernelArgs): TensorInfo => {
    const { a, b, bias, preluActivationWeights } = args.inputs;
    const { transposeA, transposeB, activation, leakyreluAlpha } = args.attrs as unknown as _FusedMatMulAttrs;
    const s = splitKShape(a, b, transposeA, transposeB);
    const act = activation as FusedActivation;
    const biasOk = !bias || (s !== null && util.sizeFromShape(bias.shape) === s.N && bias.shape[bias.shape.length - 1] === s.N && bias.dtype === 'float32');
    if (!s || preluActivationWeights || !biasOk || !FUSED_ACTIVATIONS.includes(act)) return fallback(_FusedMatMul, args);
    const epilogue: Epilogue = { bias: Boolean(bias), activation: act, alpha: leakyreluAlpha };
    return runSplitKMatMul(args.backend, a, b, s.M, s.K, s.N, outShape(a, s.M, s.N), epilogue, bias);
  };
  return [
    { kernelName: BatchMatMul, backendName: 'webgpu', kernelFunc: batchMatMul as unknown as KernelFunc },
    { kernelName: _FusedMatMul, backendName: 'webgpu', kernelFunc: fusedMatMul as unknown as KernelFunc },
  ];
}
