import type { Tensor, TypedArray } from '@tensorflow/tfjs-core';

/**
 * Reads a tensor's values asynchronously. The webgpu backend cannot `dataSync()` in Node (it reaches
 * for OffscreenCanvas), so code that may run there reads through this (or `await t.data()`).
 */
export async function readTensor<T extends TypedArray = Float32Array>(t: Tensor): Promise<T> {
  return (await t.data()) as T;
}
