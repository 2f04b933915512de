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

/**
 * The timeout of a WebGPU test, from its work rather than from one machine's speed. On lavapipe
 * (CI's software Vulkan driver) LLVM compiles every new pipeline and the CPU runs it, and the cpu
 * backend computes every reference: the first test to meet a pipeline can take minutes on a loaded
 * 2-core machine. `checks` counts the test's comparisons with cpu (one op of one case: a forward
 * pass, an input gradient, ...; a small model's training step counts 5); each gets 90 s, plus two
 * minutes for start-up. The slowest test seen, one Winograd variant's 18 checks on a cold shader cache
 * with a load of 18 on 2 cores, took 561 s of its 1,740. A slower machine makes a test slower, never
 * failed; the timeout only catches a hang.
 */
export const WEBGPU_CHECK_MS = 90_000;
export function webgpuTimeout(checks: number): number {
  return 120_000 + checks * WEBGPU_CHECK_MS;
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
