import * as tf from '@tensorflow/tfjs-core';
import { wasmSimdKernelsActive } from './wasm-kernels/simd';

/**
 * Whether one of this project's fused ops (its kernels and registered gradient) runs on the current
 * backend: WebGPU, or wasm where `onWasm` allows it ('always'; 'simd': only with the SIMD kernels,
 * its only wasm implementation; 'never'), and every one of `kernels` registered there.
 */
export function fusedOpAvailable(kernels: readonly string[], onWasm: 'always' | 'simd' | 'never'): boolean {
  const b = tf.getBackend();
  const here = b === 'webgpu' || (b === 'wasm' && (onWasm === 'always' || (onWasm === 'simd' && wasmSimdKernelsActive())));
  return here && kernels.every((k) => Boolean(tf.getKernel(k, b)));
}
