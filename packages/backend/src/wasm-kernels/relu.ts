// Relu on wasm as one SIMD pass on the calling thread (assembly/kernels.ts `relu`), with the
// built-in kernel's results (wasm's max: NaN stays NaN, -0 becomes 0). The built-in hands each
// call to XNNPACK's thread pool; between the oneDNN kernels of a training step (whose OpenMP
// threads share the two cores) that hand-off cost far more than the pass itself: PartsNet's
// training step at 128 px, batch 16 ran 3-10 ms faster per step without it (4 of 4 interleaved
// rounds). The built-in runs for other dtypes and where the SIMD kernels are not loaded.
import { Relu, util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { runBuiltinKernel } from './builtins';
import { simdKernels } from './simd';

function relu(args: { inputs: { x?: TensorInfo }; backend: BackendWasm; attrs: Record<string, unknown> }): TensorInfo {
  const { inputs: { x }, backend } = args;
  if (x == null) throw new Error('Relu (wasm kernel): input x is missing');
  const k = x.dtype === 'float32' ? simdKernels(backend) : null;
  if (k == null) return runBuiltinKernel(Relu, args);
  const out = backend.makeOutput(x.shape, 'float32');
  k.relu(k.ptr(x), k.ptr(out), 0, util.sizeFromShape(x.shape));
  return out;
}

export const reluConfig: KernelConfig = { kernelName: Relu, backendName: 'wasm', kernelFunc: relu as unknown as KernelFunc };
