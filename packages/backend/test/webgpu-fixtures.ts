// For test files with WebGPU parts (here and in packages/models): starting the backend, and comparing
// a WebGPU result with the cpu backend's.
import { expect } from 'vitest';
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
