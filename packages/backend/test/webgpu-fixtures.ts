// For test files with WebGPU parts (here and in packages/models): starting the backend, and comparing
// a WebGPU result with the cpu backend's.
import { expect } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { setupWebGPU, type WebGPUAdapterDescription } from '../src/webgpu/index';

/**
 * The WebGPU adapter, or null where there is none (the file's WebGPU tests then skip, saying why).
 * scripts/test-webgpu.sh sets PARTS_REQUIRE_WEBGPU=1: there, no adapter is a failure, not a skip.
 */
export function webgpuForTests(what: string): Promise<WebGPUAdapterDescription | null> {
  return setupWebGPU().catch((e: Error) => {
    if (process.env.PARTS_REQUIRE_WEBGPU === '1') throw new Error(`PARTS_REQUIRE_WEBGPU=1 but WebGPU did not start: ${e.message}`);
    console.info(`${what} skipped: ${e.message}`);
    return null;
  });
}

/** As many tensors in `got` as in `ref`, each within `tol` of its reference in relative L2 error (‖got − ref‖ / ‖ref‖). */
export function expectCloseL2(got: Float32Array[], ref: Float32Array[], tol: number): void {
  expect(got).toHaveLength(ref.length);
  got.forEach((g, i) => {
    const c = ref[i]!;
    let num = 0;
    let den = 0;
    for (let j = 0; j < c.length; j++) {
      num += (g[j]! - c[j]!) ** 2;
      den += c[j]! ** 2;
    }
    expect(Math.sqrt(num / Math.max(den, 1e-30)), `tensor ${i}`).toBeLessThan(tol);
  });
}

/**
 * Mean-squared-error loss of `model` on (x, y) in training mode and its gradients in weight order,
 * read asynchronously (WebGPU cannot read synchronously in Node).
 */
export async function lossAndGrads(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor): Promise<Float32Array[]> {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(() => tf.losses.meanSquaredError(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, vars);
  const out = await Promise.all([value, ...vars.map((v) => grads[v.name])].map((t) => t.data() as Promise<Float32Array>));
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}
