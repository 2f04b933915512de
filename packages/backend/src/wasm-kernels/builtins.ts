// The built-in wasm kernels that the project's replacements (index.ts REPLACED_KERNELS) hand the
// cases they do not cover back to: kept by kernel name when a replacement is registered.
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

const builtins = new Map<string, KernelFunc>();

/** Remembers the built-in wasm kernel `name` that a replacement takes the place of. */
export function keepBuiltinKernel(name: string, kernelFunc: KernelFunc): void {
  builtins.set(name, kernelFunc);
}

/** Runs the kept built-in kernel `name` on `args`. */
export function runBuiltinKernel(name: string, args: unknown): TensorInfo {
  const f = builtins.get(name);
  if (f == null) throw new Error(`${name} (wasm kernel): the built-in kernel was not kept`);
  return f(args as Parameters<KernelFunc>[0]) as TensorInfo;
}
