// FusedBatchNorm (inference: y = (x − mean)·γ/√(var + ε) + β with stored statistics) on the wasm
// backend as one SIMD pass, y = x·scale + shift per channel (affineCols in assembly/kernels.ts).
// tfjs-backend-wasm's own kernel is scalar; in PartsNet's forward pass it took about a quarter of the
// time, beside the convolutions. Shapes other than per-channel ([C] or [1, …, C]) parameters on a
// channels-last x go to the built-in kernel, as do runs without the SIMD kernels.
import { FusedBatchNorm, util, type FusedBatchNormAttrs, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { runBuiltinKernel } from './builtins';
import { f32View, need } from './heap';
import { f32Bytes, simdKernels } from './simd';

interface Inputs {
  x?: TensorInfo; mean?: TensorInfo; variance?: TensorInfo; offset?: TensorInfo; scale?: TensorInfo;
}

/** Whether `t` holds exactly one value per channel (shape [C] or [1, …, 1, C]). */
function perChannel(t: TensorInfo | undefined, channels: number): boolean {
  if (t == null) return true;
  return t.shape[t.shape.length - 1] === channels && util.sizeFromShape(t.shape) === channels && t.dtype === 'float32';
}

function fusedBatchNorm(args: { inputs: Inputs; backend: BackendWasm; attrs: FusedBatchNormAttrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const k = FusedBatchNorm;
  const x = need(inputs.x, k, 'x'), mean = need(inputs.mean, k, 'mean'), variance = need(inputs.variance, k, 'variance');
  const cols = x.shape[x.shape.length - 1] ?? 0;
  const simd = simdKernels(backend);
  const handled = simd != null && x.dtype === 'float32' && x.shape.length >= 1 && cols > 0 &&
    [mean, variance, inputs.offset, inputs.scale].every((t) => perChannel(t, cols));
  if (!handled) {
    return runBuiltinKernel(k, args);
  }
  const rows = util.sizeFromShape(x.shape) / cols;
  const out = backend.makeOutput(x.shape, 'float32');
  const bytes = f32Bytes(cols);
  simd.withScratch(2 * bytes, (p) => {
    const m = f32View(backend, mean, k, 'mean'), v = f32View(backend, variance, k, 'variance');
    const g = inputs.scale ? f32View(backend, inputs.scale, k, 'scale') : null;
    const b = inputs.offset ? f32View(backend, inputs.offset, k, 'offset') : null;
    const sc = simd.f32(p, cols), sh = simd.f32(p + bytes, cols);
    for (let c = 0; c < cols; c++) {
      sc[c] = (g ? g[c]! : 1) / Math.sqrt(v[c]! + attrs.varianceEpsilon);
      sh[c] = (b ? b[c]! : 0) - m[c]! * sc[c]!;
    }
    simd.affineCols(simd.ptr(x), simd.ptr(out), p, p + bytes, 0, rows, cols);
  });
  return out;
}

export const fusedBatchNormConfig: KernelConfig = {
  kernelName: FusedBatchNorm,
  backendName: 'wasm',
  kernelFunc: fusedBatchNorm as unknown as KernelFunc,
};
