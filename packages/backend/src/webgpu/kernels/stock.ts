// Our WebGPU kernels cover the shapes and options they were written for and hand everything else to
// the stock tfjs-backend-webgpu kernel they replaced (captured at registration, see register.ts).
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

export type StockKernels = (name: string) => KernelFunc | undefined;

/** A kernel function's arguments as our kernels read them. */
export type KernelArgs = { inputs: Record<string, TensorInfo>; backend: WebGPUBackend; attrs: Record<string, unknown> };

/** Runs the stock kernel `name` on the same arguments. */
export function runStock(stock: StockKernels, name: string, args: unknown): TensorInfo {
  const f = stock(name);
  if (!f) throw new Error(`${name}: no stock webgpu kernel to fall back to`);
  return f(args as never) as TensorInfo;
}
