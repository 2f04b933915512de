import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * Zero-copy Float32 view of a tensor that lives on the wasm heap.
 * Call only after every `makeOutput` of the kernel: an allocation can grow the wasm memory,
 * which detaches views taken earlier.
 */
export function f32View(backend: BackendWasm, t: TensorInfo, kernel: string, name: string): Float32Array {
  if (t.dtype !== 'float32') {
    throw new Error(`${kernel} (wasm training kernel): input '${name}' must be float32, got ${t.dtype}`);
  }
  return backend.typedArrayFromHeap(t) as Float32Array;
}

/** Allocates a float32 output on the wasm heap and returns it with a zeroed view (malloc does not clear). */
export function zeroedOutput(backend: BackendWasm, shape: number[]): TensorInfo {
  const out = backend.makeOutput(shape, 'float32');
  (backend.typedArrayFromHeap(out) as Float32Array).fill(0);
  return out;
}

export function assertChannelsLast(kernel: string, dataFormat: string | undefined): void {
  if (dataFormat != null && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`${kernel} (wasm training kernel): only NHWC data format is supported, got ${dataFormat}`);
  }
}

/** Output columns ow whose input column ow*stride + offset lies inside [0, inSize): [start, end). */
export function validOutRange(offset: number, stride: number, inSize: number, outSize: number): [number, number] {
  const start = offset >= 0 ? 0 : Math.ceil(-offset / stride);
  const end = Math.min(outSize, Math.floor((inSize - 1 - offset) / stride) + 1);
  return [start, Math.max(start, end)];
}

/** A kernel input that tfjs types as optional; missing means a caller bug, reported by name. */
export function need(t: TensorInfo | undefined, kernel: string, name: string): TensorInfo {
  if (t == null) throw new Error(`${kernel} (wasm training kernel): input '${name}' is missing`);
  return t;
}
