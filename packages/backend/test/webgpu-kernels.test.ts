// Our WebGPU kernels (implicit-GEMM convolutions and their gradients, the bias-gradient column
// sum) against the cpu backend. Runs only where a WebGPU adapter exists (a GPU machine, or a
// software Vulkan driver such as Mesa's lavapipe: VK_DRIVER_FILES=.../lvp_icd.json); skipped on
// CPU-only machines such as CI, where setupWebGPU fails cleanly with its reason.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { setupWebGPU } from '../src/webgpu/index';
import { CONV_CASES, checkConvCase, checkSmallNet, checkSums } from '../src/webgpu/numeric-check';

const adapter = await setupWebGPU().catch((e: Error) => {
  console.info(`webgpu kernel tests skipped: ${e.message}`);
  return null;
});

describe.skipIf(!adapter)('webgpu kernels vs cpu', () => {
  it('registers and starts the webgpu backend', async () => {
    expect(await tf.setBackend('webgpu')).toBe(true);
    expect(tf.getKernel('Conv2DBackpropFilter', 'webgpu')).toBeTruthy();
  });

  for (const c of CONV_CASES) {
    it(`conv ${c.name}: forward and both gradients match cpu`, async () => {
      await tf.setBackend('webgpu');
      const r = await checkConvCase(c, 'webgpu', 17);
      for (const [k, e] of Object.entries(r.errors)) expect(e, `${c.name} ${k}`).toBeLessThan(1e-4);
    });
  }

  it('sum over leading axes (column sum) and other axes match cpu', async () => {
    await tf.setBackend('webgpu');
    const r = await checkSums('webgpu', 5);
    for (const [k, e] of Object.entries(r.errors)) expect(e, k).toBeLessThan(1e-5);
  });

  it('a small conv net has the same loss and gradients as on cpu', async () => {
    await tf.setBackend('webgpu');
    const r = await checkSmallNet('webgpu', 9);
    for (const [k, e] of Object.entries(r.errors)) expect(e, k).toBeLessThan(1e-4);
  });
});

describe('webgpu setup without an adapter', () => {
  it.skipIf(adapter)('fails with a reason instead of crashing', async () => {
    await expect(setupWebGPU()).rejects.toThrow(/webgpu|adapter|Vulkan/i);
  });
});
