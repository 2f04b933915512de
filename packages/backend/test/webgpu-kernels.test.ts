// Our WebGPU kernels (implicit-GEMM convolutions and their gradients, fused convolution, split-K
// matmul, depthwise filter gradient, column sums) against the cpu backend. Runs where a WebGPU
// adapter exists (a GPU machine, or Mesa's lavapipe: scripts/test-webgpu.sh fetches it and runs
// this file, as CI does); skipped elsewhere, where setupWebGPU fails cleanly with its reason.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { setupWebGPU } from '../src/webgpu/index';
import { registerWebGPUKernels } from '../src/webgpu/kernels/register';
import { CONV_CASES, DEPTHWISE_CASES, checkConvCase, checkDepthwiseCase, checkConvBiasRelu, checkFusedConv, checkMatMuls, checkSmallNet, checkSums, type CheckResult } from '../src/webgpu/numeric-check';

const adapter = await setupWebGPU().catch((e: Error) => {
  // scripts/test-webgpu.sh sets PARTS_REQUIRE_WEBGPU: there, no adapter is a failure, not a skip.
  if (process.env.PARTS_REQUIRE_WEBGPU === '1') throw new Error(`PARTS_REQUIRE_WEBGPU=1 but WebGPU did not start: ${e.message}`);
  console.info(`webgpu kernel tests skipped: ${e.message}`);
  return null;
});

/** Every relative error of a check below `tol`, each reported under its own name. */
function expectBelow(r: CheckResult, tol: number, prefix?: string): void {
  for (const [k, e] of Object.entries(r.errors)) expect(e, prefix ? `${prefix} ${k}` : k).toBeLessThan(tol);
}

describe.skipIf(!adapter)('webgpu kernels vs cpu', () => {
  it('registers and starts the webgpu backend', async () => {
    expect(await tf.setBackend('webgpu')).toBe(true);
    expect(registerWebGPUKernels()).toEqual(expect.arrayContaining(['Conv2D', 'FusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'BatchMatMul', '_FusedMatMul', 'DepthwiseConv2dNativeBackpropFilter', 'Sum', 'Mean', 'PartsReluGrad']));
  });

  for (const c of CONV_CASES) {
    it(`conv ${c.name}: forward and both gradients match cpu`, async () => {
      await tf.setBackend('webgpu');
      const r = await checkConvCase(c, 'webgpu', 17);
      expectBelow(r, 1e-4, c.name);
    });
  }

  for (const c of DEPTHWISE_CASES) {
    it(`depthwise ${c.name}: forward and both gradients match cpu`, async () => {
      await tf.setBackend('webgpu');
      const r = await checkDepthwiseCase(c, 'webgpu', 41);
      expectBelow(r, 1e-4, c.name);
    });
  }

  it('fused conv2d (bias + every activation) matches cpu', async () => {
    await tf.setBackend('webgpu');
    const r = await checkFusedConv('webgpu', 3);
    expectBelow(r, 1e-4);
  });

  it('conv + bias + relu with its own gradient (FusedConv2D, PartsReluGrad) matches cpu', async () => {
    await tf.setBackend('webgpu');
    const r = await checkConvBiasRelu('webgpu', 19);
    expectBelow(r, 1e-4);
  });

  it('matrix products (split-K dense shape, fused, and stock shapes) match cpu', async () => {
    await tf.setBackend('webgpu');
    const r = await checkMatMuls('webgpu', 13);
    expectBelow(r, 1e-4);
  });

  it('sum and mean over leading axes (column sum) and other axes match cpu', async () => {
    await tf.setBackend('webgpu');
    const r = await checkSums('webgpu', 5);
    expectBelow(r, 1e-5);
  });

  it('more row tiles than one dispatch dimension allows (65,535) continue along z', async () => {
    await tf.setBackend('webgpu');
    process.env.PARTS_CONV_TILES = 'forward:4x4,inputGrad:4x4';
    try {
      // 1·2100·2100 rows = 68,907 tiles of 64 rows.
      const c = { name: '1x1 over 4.4M pixels', x: [1, 2100, 2100, 1] as [number, number, number, number], filter: [1, 1, 1, 3] as [number, number, number, number], strides: 1, pad: 'valid' as const };
      const r = await checkConvCase(c, 'webgpu', 51);
      expectBelow(r, 1e-4);
    } finally {
      delete process.env.PARTS_CONV_TILES;
    }
  }, 120_000);

  it('a small conv net has the same loss and gradients as on cpu', async () => {
    await tf.setBackend('webgpu');
    const r = await checkSmallNet('webgpu', 9);
    expectBelow(r, 1e-4);
  });
});

// The other inner loop (vec4 shared-memory tiles) and other tile shapes, chosen per op through
// the environment the way scripts/gpu A/B-times them.
const VARIANTS: Record<string, string>[] = [
  { PARTS_CONV_CORE: 'vec4' },
  { PARTS_CONV_CORE: 'vec4p', PARTS_CONV_TILES: 'forward:8x8,inputGrad:4x8,filterGrad:8x8' },
  { PARTS_CONV_CORE: 'scalarp', PARTS_CONV_TILES: 'forward:4x2,inputGrad:8x2,filterGrad:8x4,matmul:8x4' },
  { PARTS_CONV_CORE: 'vec4p', PARTS_CONV_TILES: 'forward:4x4,inputGrad:8x4,filterGrad:4x4,matmul:4x8' },
];

describe.skipIf(!adapter).each(VARIANTS)('webgpu conv kernels vs cpu with %o', (env) => {
  const saved: Record<string, string | undefined> = {};
  beforeAll(() => {
    for (const [k, v] of Object.entries(env)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
  });
  afterAll(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('every conv case: forward and both gradients match cpu', async () => {
    await tf.setBackend('webgpu');
    for (const c of CONV_CASES) {
      const r = await checkConvCase(c, 'webgpu', 23);
      expectBelow(r, 1e-4, c.name);
    }
  });

  it('matrix products match cpu', async () => {
    await tf.setBackend('webgpu');
    const r = await checkMatMuls('webgpu', 37);
    expectBelow(r, 1e-4);
  });

  it('a small conv net has the same loss and gradients as on cpu', async () => {
    await tf.setBackend('webgpu');
    const r = await checkSmallNet('webgpu', 31);
    expectBelow(r, 1e-4);
  });
});

describe('webgpu setup without an adapter', () => {
  it.skipIf(adapter)('fails with a reason instead of crashing', async () => {
    await expect(setupWebGPU()).rejects.toThrow(/webgpu|adapter|Vulkan/i);
  });
});
