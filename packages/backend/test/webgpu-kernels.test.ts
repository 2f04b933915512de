// Our WebGPU kernels (implicit-GEMM convolutions and their gradients, fused convolution, split-K
// matmul, depthwise filter gradient, column sums) against the cpu backend. Runs where a WebGPU
// adapter exists (a GPU machine, or Mesa's lavapipe: scripts/test-webgpu.sh fetches it and runs
// this file, as CI does); skipped elsewhere, where setupWebGPU fails cleanly with its reason.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { initKernelTuning, kernelRevision, loadTuneCache, TUNE_CANDIDATES, tuneShape, tuneWebGPUKernels, WINOGRAD_CANDIDATES, WINOGRAD_FILTER_GRAD_CANDIDATES } from '../src/webgpu/autotune';
import { convFlops, convShapeKey, formatVariant, DEFAULT_KERNELS, resetKernelChoices, usedKernels } from '../src/webgpu/kernels/kernel-choice';
import { convBiasRelu, createAdam, setupWebGPU } from '../src/webgpu/index';
import { registerWebGPUKernels } from '../src/webgpu/kernels/register';
import { CONV_CASES, DEPTHWISE_CASES, WINOGRAD_CASES, checkConvCase, checkDepthwiseCase, checkBatchNormTrain, checkConvBiasRelu, checkWinograd, checkFusedAdam, checkFusedConv, checkMatMuls, checkSmallNet, checkSums, type CheckResult } from '../bench/numeric-check';
import { webgpuForTests, webgpuTimeout } from './webgpu-fixtures';

const adapter = await webgpuForTests('webgpu kernel tests');

// Each test starts from the same state, whatever ran before it (or is still running: a test that
// timed out keeps going in the background, and its kernels and environment would leak into the
// next one). Before each test: the previous test's body has settled and the GPU queue is idle; the
// kernel overrides of the environment are cleared (the tests that need one set it themselves); the
// kernel choices, the tuning state and the cache file are those of an untuned process; the
// backend is webgpu.
const KERNEL_ENV = ['PARTS_CONV_TILES', 'PARTS_CONV_CORE'] as const;
const savedEnv = Object.fromEntries(KERNEL_ENV.map((k) => [k, process.env[k]]));
let running: Promise<unknown> = Promise.resolve();

/** A GPU test whose body the next test waits for (see above); `checks` sizes its timeout (webgpuTimeout). */
function gpuIt(name: string, checks: number, body: () => Promise<void>): void {
  it(name, () => {
    const p = body();
    running = p.catch(() => undefined);
    return p;
  }, webgpuTimeout(checks));
}

beforeEach(async () => {
  await running;
  if (!adapter) return;
  for (const k of KERNEL_ENV) delete process.env[k];
  resetKernelChoices();
  initKernelTuning(adapter, { PARTS_WEBGPU_AUTOTUNE: '0' });
  expect(await tf.setBackend('webgpu')).toBe(true);
  await (tf.backend() as unknown as WebGPUBackend).device.queue.onSubmittedWorkDone();
}, webgpuTimeout(3 * CONV_CASES.length)); // the wait for a timed-out test's leftover work: as long as the longest test may run

afterAll(() => {
  for (const k of KERNEL_ENV) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
});

/** Every relative error of a check below `tol`, each reported under its own name. */
function expectBelow(r: CheckResult, tol: number, prefix?: string): void {
  for (const [k, e] of Object.entries(r.errors)) expect(e, prefix ? `${prefix} ${k}` : k).toBeLessThan(tol);
}

describe.skipIf(!adapter)('webgpu kernels vs cpu', () => {
  it('registers and starts the webgpu backend', async () => {
    expect(await tf.setBackend('webgpu')).toBe(true);
    expect(registerWebGPUKernels()).toEqual(expect.arrayContaining(['Conv2D', 'FusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'BatchMatMul', '_FusedMatMul', 'DepthwiseConv2dNativeBackpropFilter', 'Sum', 'Mean', 'PartsReluGrad', 'PartsConvBiasRelu']));
  });

  for (const c of CONV_CASES) {
    gpuIt(`conv ${c.name}: forward and both gradients match cpu`, 3, async () => {
      await tf.setBackend('webgpu');
      const r = await checkConvCase(c, 'webgpu', 17);
      expectBelow(r, 1e-4, c.name);
    });
  }

  gpuIt('untuned shapes run the defaults: Winograd for 3×3 stride-1 convolutions of 16+ channels, the GEMM elsewhere', 3 * CONV_CASES.length, async () => {
    await tf.setBackend('webgpu');
    resetKernelChoices();
    for (const c of CONV_CASES) expectBelow(await checkConvCase(c, 'webgpu', 5), 1e-4, c.name);
    const used = usedKernels();
    expect(used.every((u) => u.source === 'default')).toBe(true);
    const winograd = used.filter((u) => u.variant.startsWith('wino:'));
    // 50->50 and 16->24: forward, input and filter gradient each; 3->50, 8->6 and 13->70 keep the GEMM.
    expect(winograd.map((u) => u.key.split(' ')[0]).sort()).toEqual(['filterGrad', 'filterGrad', 'forward', 'forward', 'inputGrad', 'inputGrad']);
    for (const u of winograd) {
      expect(u.key).toMatch(/ f3x3x(50|24) s1x1 d1x1 /);
      expect(u.variant).toBe(u.key.startsWith('filterGrad') ? 'wino:16x4' : 'wino:32x4p');
    }
    for (const u of used.filter((x) => !winograd.includes(x))) expect(u.variant, u.key).toBe(formatVariant(DEFAULT_KERNELS[u.key.split(' ')[0] as 'forward']));
  });

  for (const c of DEPTHWISE_CASES) {
    gpuIt(`depthwise ${c.name}: forward and both gradients match cpu`, 3, async () => {
      await tf.setBackend('webgpu');
      const r = await checkDepthwiseCase(c, 'webgpu', 41);
      expectBelow(r, 1e-4, c.name);
    });
  }

  // One test per Winograd variant (each compiles its own pipelines, the slow part on lavapipe), every
  // case of WINOGRAD_CASES in each. The variants below run on any device with lavapipe's 32 KB of
  // workgroup memory and 1024 invocations; one that needs more must say it was skipped.
  const RUN_EVERYWHERE = ['wino:16x4', 'wino:16x4n56', 'wino:16x4n56p', 'wino:32x4p'];
  for (const v of WINOGRAD_CANDIDATES) {
    const ops = WINOGRAD_FILTER_GRAD_CANDIDATES.includes(v) ? 3 : 2; // forward, input gradient (and filter gradient)
    gpuIt(`Winograd ${v}: matches cpu on every 3×3 stride-1 case where the device can run it (forward, input gradient${ops === 3 ? ', filter gradient' : ''})`, ops * WINOGRAD_CASES.length, async () => {
      const r = await checkWinograd('webgpu', 29, 1e-4, [v]);
      expectBelow(r, 1e-4);
      const ran = Object.keys(r.errors).filter((k) => k.startsWith(`${v} `)).length;
      if (RUN_EVERYWHERE.includes(v) || !r.name.includes(v)) expect(ran, `${v}: ${r.name}`).toBe(ops * WINOGRAD_CASES.length);
      else expect(ran, r.name).toBe(0);
      expect(process.env.PARTS_CONV_TILES).toBeUndefined();
    });
  }

  gpuIt('fused conv2d (bias + every activation) matches cpu', 14, async () => {
    await tf.setBackend('webgpu');
    const r = await checkFusedConv('webgpu', 3);
    expectBelow(r, 1e-4);
  });

  gpuIt('conv + bias + relu with its own gradient (FusedConv2D, PartsReluGrad) matches cpu', 15, async () => {
    await tf.setBackend('webgpu');
    const r = await checkConvBiasRelu('webgpu', 19);
    expectBelow(r, 1e-4);
  });

  gpuIt('conv + bias + relu computes the input gradient only when something needs it (never for the image)', 6, async () => {
    await tf.setBackend('webgpu');
    const x = tf.randomNormal([2, 10, 10, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 3, 8], 0, 1, 'float32', 2) as tf.Tensor4D;
    const b = tf.zeros([8]) as tf.Tensor1D;
    const kernelsOf = async (wrt: 'params' | 'all') => {
      const prof = await tf.profile(async () => {
        const loss = (...t: tf.Tensor[]) => tf.sum(convBiasRelu((wrt === 'all' ? t[0] : x) as tf.Tensor4D, t.at(-2) as tf.Tensor4D, t.at(-1) as tf.Tensor1D, { strides: [1, 1], pad: 'same' })) as tf.Scalar;
        const grads = tf.grads(loss)(wrt === 'all' ? [x, w, b] : [w, b]);
        await Promise.all(grads.map((g) => g.data()));
        tf.dispose(grads);
      });
      return prof.kernels.map((k) => k.name);
    };
    const params = await kernelsOf('params');
    expect(params).toEqual(expect.arrayContaining(['PartsConvBiasRelu', 'PartsReluGrad', 'Conv2DBackpropFilter']));
    expect(params).not.toContain('Conv2DBackpropInput');
    expect(await kernelsOf('all')).toContain('Conv2DBackpropInput');
    tf.dispose([x, w, b]);
  });

  gpuIt('matrix products (split-K dense shape, fused, and stock shapes) match cpu', 5, async () => {
    await tf.setBackend('webgpu');
    const r = await checkMatMuls('webgpu', 13);
    expectBelow(r, 1e-4);
  });

  gpuIt('sum and mean over leading axes (column sum) and other axes match cpu', 10, async () => {
    await tf.setBackend('webgpu');
    const r = await checkSums('webgpu', 5);
    expectBelow(r, 1e-5);
  });

  gpuIt('batch norm with batch statistics (fused kernel): output, statistics and gradients match cpu', 24, async () => {
    await tf.setBackend('webgpu');
    expectBelow(await checkBatchNormTrain('webgpu', 71), 1e-4);
  });

  gpuIt('Adam: the fused update (two programs per variable) takes the steps tfjs Adam takes on cpu, and leaks nothing', 4, async () => {
    await tf.setBackend('webgpu');
    expectBelow(await checkFusedAdam('webgpu', 61), 1e-6);
    // Per step: PartsAdamMoments and PartsAdamApply once per variable, nothing else; no tensor left behind.
    const vars = [tf.variable(tf.ones([4, 4]), true, 'adamprof_a'), tf.variable(tf.ones([9]), true, 'adamprof_b')];
    const opt = createAdam(0.1);
    const g = { adamprof_a: tf.fill([4, 4], 0.5), adamprof_b: tf.fill([9], -2) };
    opt.applyGradients(g); // creates the moments
    const before = tf.memory().numTensors;
    const prof = await tf.profile(() => opt.applyGradients(g));
    expect(prof.kernels.map((k) => k.name).sort()).toEqual(['PartsAdamApply', 'PartsAdamApply', 'PartsAdamMoments', 'PartsAdamMoments']);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([...vars, ...Object.values(g)]);
    opt.dispose();
  });

  // (Its cpu reference over 4.4M pixels, about the least that makes 65,536 tiles, weighs as ten checks.)
  gpuIt('more row tiles than one dispatch dimension allows (65,535) continue along z', 10, async () => {
    await tf.setBackend('webgpu');
    process.env.PARTS_CONV_TILES = 'forward:4x4,inputGrad:4x4';
    try {
      // 1·2100·2100 rows = 68,907 tiles of 64 rows, for the forward pass and the input gradient (the
      // filter gradient reduces over the rows instead: leaving it out halves the test's time on lavapipe).
      const c = { name: '1x1 over 4.4M pixels', x: [1, 2100, 2100, 1] as [number, number, number, number], filter: [1, 1, 1, 3] as [number, number, number, number], strides: 1, pad: 'valid' as const, noFilterGrad: true };
      const r = await checkConvCase(c, 'webgpu', 51);
      expectBelow(r, 1e-4);
    } finally {
      delete process.env.PARTS_CONV_TILES;
    }
  });

  gpuIt('a small conv net has the same loss and gradients as on cpu', 7, async () => {
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
  // Winograd for the 3×3 stride-1 cases (the others keep the GEMM); both workgroup shapes that fit
  // lavapipe's 32 KB of workgroup memory (BK 8 needs more).
  { PARTS_CONV_TILES: 'forward:wino:16x4,inputGrad:wino:32x4p,filterGrad:wino:16x4' },
  { PARTS_CONV_TILES: 'forward:wino:32x4p,inputGrad:wino:16x4n56,filterGrad:wino:16x4n56' },
  { PARTS_CONV_TILES: 'forward:wino:32x4n64p,inputGrad:wino:32x4n56,filterGrad:wino:16x4n56p' },
];

describe.skipIf(!adapter).each(VARIANTS)('webgpu conv kernels vs cpu with %o', (env) => {
  // (Per test, after the file's beforeEach has cleared the kernel environment.)
  beforeEach(() => {
    for (const [k, v] of Object.entries(env)) process.env[k] = v;
  });
  afterEach(() => {
    for (const k of Object.keys(env)) delete process.env[k];
  });

  gpuIt('every conv case: forward and both gradients match cpu', 3 * CONV_CASES.length, async () => {
    await tf.setBackend('webgpu');
    resetKernelChoices();
    for (const c of CONV_CASES) {
      const r = await checkConvCase(c, 'webgpu', 23);
      expectBelow(r, 1e-4, c.name);
    }
    // The override ran what it names: Winograd exactly for the 3×3 stride-1 convolutions.
    const wanted = (env.PARTS_CONV_TILES ?? '').split(',').filter((p) => p.includes(':wino:'));
    for (const part of wanted) {
      const [op, , cfg] = part.split(':');
      const used = usedKernels().filter((u) => u.key.startsWith(`${op} `));
      const wino = used.filter((u) => / f3x3x\d+ s1x1 d1x1 /.test(u.key));
      expect(wino.length, op).toBeGreaterThanOrEqual(4);
      for (const u of wino) expect(u, u.key).toMatchObject({ variant: `wino:${cfg}`, source: 'override' });
      for (const u of used.filter((x) => !wino.includes(x))) expect(u.variant, u.key).not.toMatch(/^wino/);
    }
  });

  gpuIt('matrix products match cpu', 5, async () => {
    await tf.setBackend('webgpu');
    const r = await checkMatMuls('webgpu', 37);
    expectBelow(r, 1e-4);
  });

  gpuIt('a small conv net has the same loss and gradients as on cpu', 7, async () => {
    await tf.setBackend('webgpu');
    const r = await checkSmallNet('webgpu', 31);
    expectBelow(r, 1e-4);
  });
});

// Autotuning (autotune.ts) on a real adapter: the timing is meaningless on lavapipe, but the
// mechanics are not: which shapes get timed, every candidate's output checked against the default,
// the choice used afterwards, the cache written.
describe.skipIf(!adapter)('webgpu kernel autotuning', () => {
  afterAll(() => {
    resetKernelChoices();
    initKernelTuning(adapter!, { PARTS_WEBGPU_AUTOTUNE: '0' });
  });

  gpuIt('times every candidate on the shapes a training step met, keeps a correct one, caches it, and the step still matches cpu', TUNE_CANDIDATES.length + WINOGRAD_CANDIDATES.length + 14, async () => {
    await tf.setBackend('webgpu');
    resetKernelChoices();
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'parts-tune-')), 'kernels.json');
    expect(initKernelTuning({ device: adapter!.device, software: false }, { PARTS_WEBGPU_TUNE_CACHE: file }, 0)).toBe(true);
    expectBelow(await checkSmallNet('webgpu', 9), 1e-4); // records the shapes (default kernels)
    const lines: string[] = [];
    const results = await tuneWebGPUKernels({ rounds: 1, log: (l) => lines.push(l) });
    expect(new Set(results.map((r) => r.op))).toEqual(new Set(['forward', 'inputGrad', 'filterGrad']));
    expect(results.length).toBeGreaterThanOrEqual(5); // two layers' forward and filter gradients, one input gradient at least
    expect(results.filter((r) => typeof r.timings['wino:16x4'] === 'number').map((r) => r.op).sort()).toEqual(['filterGrad', 'filterGrad', 'forward', 'forward', 'inputGrad']);
    for (const r of results) {
      for (const v of TUNE_CANDIDATES) expect(r.timings[v], `${r.key} ${v}`).toBeTypeOf('number');
      // Winograd is a candidate for 3×3 stride-1 convolutions only (the filter gradient: its channel
      // blocks, with and without prefetch); BK 8 needs more workgroup memory than lavapipe's 32 KB and is skipped with that reason.
      const wino = / f3x3x\d+ s1x1 d1x1 /.test(r.key);
      for (const v of WINOGRAD_CANDIDATES) {
        if (!wino || (r.op === 'filterGrad' && !WINOGRAD_FILTER_GRAD_CANDIDATES.includes(v))) expect(r.timings[v], `${r.key} ${v}`).toBeUndefined();
        else if (typeof r.timings[v] !== 'number') expect(r.timings[v], `${r.key} ${v}`).toMatch(/^needs \d+ (bytes of workgroup memory|invocations per workgroup), the device allows \d+$/);
      }
      if (wino) expect(r.timings['wino:16x4'], r.key).toBeTypeOf('number');
      if (wino) expect(r.timings['wino:16x4n56'], r.key).toBeTypeOf('number');
      if (wino && r.op !== 'filterGrad') expect(r.timings['wino:32x4n64p'], r.key).toBeTypeOf('number'); // 512 invocations: lavapipe allows 1024
      expect(r.ms).toBeLessThanOrEqual(r.defaultMs);
      expect(r.defaultVariant).toBe(formatVariant(DEFAULT_KERNELS[r.op]));
    }
    expect(lines[0]).toMatch(/timing kernel variants for \d+ new shape/);
    expect(lines.at(-1)).toMatch(/done in/);
    // The chosen variants run now, and the gradients still match.
    expectBelow(await checkSmallNet('webgpu', 9), 1e-4);
    const used = new Map(usedKernels().map((u) => [u.key, u]));
    for (const r of results) expect(used.get(r.key)).toMatchObject({ variant: r.variant, source: 'measured', ms: r.ms });
    // Nothing new to time; the cache holds every choice for this adapter and kernel revision.
    expect(await tuneWebGPUKernels({ log: () => {} })).toEqual([]);
    const cached = loadTuneCache(file, adapter!.device, kernelRevision()).entries;
    expect(Object.fromEntries(Object.entries(cached).map(([k, e]) => [k, e.variant]))).toEqual(Object.fromEntries(results.map((r) => [r.key, r.variant])));
  });

  gpuIt('times with the wall clock where the device has no timestamp queries', 3 * 3 + 7, async () => {
    await tf.setBackend('webgpu');
    const conv = tf.backend_util.computeConv2DInfo([2, 10, 10, 6], [3, 3, 6, 8], 1, 1, 'same');
    const shape = { key: convShapeKey('filterGrad', conv), op: 'filterGrad' as const, conv, flops: convFlops(conv) };
    const before = tf.memory().numTensors;
    const r = await tuneShape(tf.engine().backend as unknown as WebGPUBackend, shape, { candidates: ['4x4:vec4', '8x4'], rounds: 3, timer: 'wall' });
    expect(r.timer).toBe('wall');
    for (const v of [formatVariant(DEFAULT_KERNELS.filterGrad), '4x4:vec4', '8x4']) expect(r.timings[v], v).toBeGreaterThan(0);
    expect(tf.memory().numTensors).toBe(before);
    // The backend still works after the timing (its pass and command encoder were left consistent).
    expectBelow(await checkSmallNet('webgpu', 3), 1e-4);
  });

  gpuIt('rejects a candidate whose output differs from the default variant\'s', 2, async () => {
    await tf.setBackend('webgpu');
    const conv = tf.backend_util.computeConv2DInfo([2, 10, 10, 6], [3, 3, 6, 8], 1, 1, 'same');
    const shape = { key: convShapeKey('forward', conv), op: 'forward' as const, conv, flops: convFlops(conv) };
    const r = await tuneShape(tf.engine().backend as unknown as WebGPUBackend, shape, { candidates: ['8x4'], tolerance: -1, rounds: 1 });
    expect(r.timings['8x4']).toMatch(new RegExp(`^wrong result \\(relative difference \\S+ from ${formatVariant(DEFAULT_KERNELS.forward)}\\)$`));
    expect(r.variant).toBe(r.defaultVariant);
    expect(r.timings[r.defaultVariant]).toBeTypeOf('number');
  });
});

describe('webgpu setup without an adapter', () => {
  it.skipIf(adapter)('fails with a reason instead of crashing', async () => {
    await expect(setupWebGPU()).rejects.toThrow(/webgpu|adapter|Vulkan/i);
  });
});
