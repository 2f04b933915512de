// Identity (tf.clone) on wasm as the cpu and WebGL backends have it: the output shares the input's
// memory (one more reference) instead of a copy. tfjs clones every tensor a gradient will need
// when the op runs (the engine's saved inputs and outputs), so the built-in copy moved about 126 MB
// per PartsNet training step at 128 px, batch 16 (185 copies, 6-10% of the step). Sharing is safe
// because no kernel writes into its inputs: every kernel, the built-in ones and the project's
// (wasm-kernels/, onednn/), writes only into outputs it allocated.
import { Identity, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { runBuiltinKernel } from './builtins';

function identity(args: { inputs: { x?: TensorInfo }; backend: BackendWasm; attrs: Record<string, unknown> }): TensorInfo {
  const x = args.inputs.x;
  if (x == null) throw new Error('Identity (wasm kernel): input x is missing');
  // String tensors keep the built-in kernel (their values live outside the wasm heap).
  if (x.dtype === 'string') return runBuiltinKernel(Identity, args);
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

export const identityConfig: KernelConfig = { kernelName: Identity, backendName: 'wasm', kernelFunc: identity as unknown as KernelFunc };
