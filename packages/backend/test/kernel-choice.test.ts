// Kernel choice for the WebGPU GEMMs (override > measured/cached > default), the shapes noted for
// the autotuner, and its cache file. Pure logic: runs on every machine (the timing itself is
// tested on a WebGPU adapter in webgpu-kernels.test.ts).
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { backend_util } from '@tensorflow/tfjs-core';
import {
  chooseKernel,
  convFlops,
  convShapeKey,
  DEFAULT_KERNELS,
  DEFAULT_WINOGRAD,
  defaultKernel,
  envOverride,
  formatVariant,
  markUntunable,
  parseVariant,
  resetKernelChoices,
  setRecording,
  setTuned,
  takePending,
  usedKernels,
  type TuneShape,
} from '../src/webgpu/kernels/kernel-choice';
import { candidatesFor, familyBests, fastest, initKernelTuning, kernelRevision, loadTuneCache, saveTuneCache, TUNE_CANDIDATES, tuneCachePath, WINOGRAD_CANDIDATES } from '../src/webgpu/autotune';
import { exceedsLimits } from '../src/webgpu/kernels/device-limits';
import { winogradInvocations, winogradStorageBytes, winogradUnfit } from '../src/webgpu/kernels/winograd';

const conv = backend_util.computeConv2DInfo([32, 254, 254, 50], [3, 3, 50, 50], 1, 1, 'valid');
const small = backend_util.computeConv2DInfo([1, 8, 8, 3], [3, 3, 3, 4], 1, 1, 'same');
const shapeOf = (op: 'forward' | 'filterGrad', c: backend_util.Conv2DInfo) => (): TuneShape => ({ key: convShapeKey(op, c), op, conv: c, flops: convFlops(c) });
const noEnv = {} as NodeJS.ProcessEnv;
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'parts-tune-'));

afterEach(() => resetKernelChoices());

describe('kernel variants as text', () => {
  it('every candidate and default round-trips through parseVariant/formatVariant', () => {
    for (const v of [...TUNE_CANDIDATES, ...Object.values(DEFAULT_KERNELS).map(formatVariant)]) expect(formatVariant(parseVariant(v))).toBe(v);
    expect(parseVariant('8x8:vec4p')).toEqual({ tile: { tm: 8, tn: 8 }, core: 'vec4', prefetch: true });
    expect(parseVariant('4x2')).toEqual({ tile: { tm: 4, tn: 2 }, core: 'scalar', prefetch: false });
  });

  it('Winograd variants round-trip, and say which workgroup shape they build', () => {
    for (const v of WINOGRAD_CANDIDATES) expect(formatVariant(parseVariant(v))).toBe(v);
    expect(parseVariant('wino:16x4').winograd).toEqual({ tiles: 16, bk: 4, prefetch: false });
    expect(parseVariant('wino:32x8p').winograd).toEqual({ tiles: 32, bk: 8, prefetch: true });
    expect(parseVariant('wino:16x4n56p').winograd).toEqual({ tiles: 16, bk: 4, prefetch: true, channels: 56 });
    // The default channel block (1024 / tiles) is not spelled out.
    expect(formatVariant(parseVariant('wino:16x4n64'))).toBe('wino:16x4');
    expect(() => parseVariant('wino:16x2')).toThrow(/bad Winograd variant 'wino:16x2'/);
    expect(() => parseVariant('wino:16x4n50')).toThrow(/'wino:16x4n50': .*multiple of 8/);
    expect(parseVariant('wino:32x4n64').winograd).toEqual({ tiles: 32, bk: 4, prefetch: false, channels: 64 });
    expect(winogradInvocations(parseVariant('wino:32x4n64').winograd!)).toBe(512);
    expect(() => parseVariant('wino:32x4n136')).toThrow(/1024 threads/);
    // Workgroup memory: what the tuner compares with the device's limit (lavapipe and the WebGPU default: 32 KB / 16 KB).
    expect(winogradStorageBytes(parseVariant('wino:16x4').winograd!)).toBeLessThanOrEqual(32768);
    expect(winogradStorageBytes(parseVariant('wino:16x8').winograd!)).toBeGreaterThan(32768);
    // Larger workgroups stage their output in more passes rather than in more memory.
    for (const v of ['wino:32x4n64', 'wino:32x4n56']) expect(winogradStorageBytes(parseVariant(v).winograd!), v).toBeLessThanOrEqual(32768);
  });

  it('refuses impossible variants with the reason', () => {
    expect(() => parseVariant('8x8')).toThrow(/scalar core takes TN 2 or 4/);
    expect(() => parseVariant('4x2:vec4')).toThrow(/vec4 core needs TN 4 or 8/);
    expect(() => parseVariant('3x4')).toThrow(/bad tile '3x4'/);
    expect(() => parseVariant('8x4:fast')).toThrow(/got 'fast'/);
  });
});

describe('environment overrides', () => {
  it('PARTS_CONV_CORE switches the inner loop of every op, PARTS_CONV_TILES one op', () => {
    expect(envOverride('forward', noEnv)).toBeNull();
    expect(envOverride('filterGrad', { PARTS_CONV_CORE: 'vec4p' })).toEqual({ ...DEFAULT_KERNELS.filterGrad, core: 'vec4', prefetch: true });
    const env = { PARTS_CONV_TILES: 'forward:8x8:vec4,inputGrad:4x2' };
    expect(envOverride('forward', env)).toEqual({ tile: { tm: 8, tn: 8 }, core: 'vec4', prefetch: false });
    expect(envOverride('inputGrad', env)).toEqual({ tile: { tm: 4, tn: 2 }, core: 'scalar', prefetch: false });
    expect(envOverride('filterGrad', env)).toBeNull();
    // A tile without a core takes PARTS_CONV_CORE's, else the scalar one.
    expect(envOverride('forward', { PARTS_CONV_TILES: 'forward:8x4' })).toEqual({ tile: { tm: 8, tn: 4 }, core: 'scalar', prefetch: false });
    expect(envOverride('forward', { PARTS_CONV_CORE: 'vec4', PARTS_CONV_TILES: 'forward:4x8' })).toEqual({ tile: { tm: 4, tn: 8 }, core: 'vec4', prefetch: false });
    expect(() => envOverride('forward', { PARTS_CONV_TILES: 'forward:8x8' })).toThrow(/forward: the scalar core takes TN 2 or 4/);
    expect(() => envOverride('forward', { PARTS_CONV_CORE: 'simd' })).toThrow(/PARTS_CONV_CORE/);
  });

  it('a Winograd override applies to 3×3 stride-1 convolutions; other shapes keep the op\'s GEMM', () => {
    const env = { PARTS_CONV_TILES: 'forward:wino:32x4p,filterGrad:wino:16x4' };
    expect(envOverride('forward', env)).toEqual({ ...DEFAULT_KERNELS.forward, winograd: { tiles: 32, bk: 4, prefetch: true } });
    setRecording(true, 0);
    expect(chooseKernel('forward', convShapeKey('forward', conv), shapeOf('forward', conv), env).winograd).toEqual({ tiles: 32, bk: 4, prefetch: true });
    const strided = backend_util.computeConv2DInfo([1, 9, 9, 4], [3, 3, 4, 6], 2, 1, 'same');
    const c = chooseKernel('forward', convShapeKey('forward', strided), shapeOf('forward', strided), env);
    expect(c.winograd).toBeUndefined();
    expect(c.tile).toEqual(DEFAULT_KERNELS.forward.tile);
    expect(chooseKernel('filterGrad', convShapeKey('filterGrad', conv), shapeOf('filterGrad', conv), env).winograd).toBeDefined();
    // kernels.json tells what ran.
    const used = new Map(usedKernels().map((u) => [u.key, u.variant]));
    expect(used.get(convShapeKey('forward', conv))).toBe('wino:32x4p');
    expect(used.get(convShapeKey('forward', strided))).toBe(formatVariant(DEFAULT_KERNELS.forward));
    // Overrides are not tuning material.
    expect(takePending()).toEqual([]);
  });
});

describe('tuning candidates', () => {
  it('adds Winograd for 3×3 stride-1 convolutions only (the filter gradient: its two channel blocks)', () => {
    expect(candidatesFor(shapeOf('forward', conv)())).toEqual([...TUNE_CANDIDATES, ...WINOGRAD_CANDIDATES]);
    expect(candidatesFor(shapeOf('filterGrad', conv)())).toEqual([...TUNE_CANDIDATES, 'wino:16x4', 'wino:16x4n56', 'wino:16x4p', 'wino:16x4n56p']);
    const strided = backend_util.computeConv2DInfo([1, 9, 9, 4], [3, 3, 4, 6], 2, 1, 'same');
    const oneByOne = backend_util.computeConv2DInfo([1, 9, 9, 4], [1, 1, 4, 6], 1, 1, 'same');
    const dilated = backend_util.computeConv2DInfo([1, 9, 9, 4], [3, 3, 4, 6], 1, 2, 'same');
    for (const c of [strided, oneByOne, dilated]) expect(candidatesFor(shapeOf('forward', c)())).toEqual(TUNE_CANDIDATES);
    expect(candidatesFor({ key: 'matmul 1x2x3', op: 'matmul', matmul: { M: 1, K: 2, N: 3 }, flops: 12 })).toEqual(TUNE_CANDIDATES);
  });
});

describe('default kernels', () => {
  const gpu = { maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024 };
  const baseline = { maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256 };
  const rgb = backend_util.computeConv2DInfo([32, 256, 256, 3], [3, 3, 3, 50], 1, 1, 'valid');
  const strided = backend_util.computeConv2DInfo([8, 64, 64, 64], [3, 3, 64, 64], 2, 1, 'same');
  const oneByOne = backend_util.computeConv2DInfo([8, 64, 64, 64], [1, 1, 64, 256], 1, 1, 'same');

  it('runs Winograd for 3×3 stride-1 convolutions of 16+ channels where the device has the memory', () => {
    expect(defaultKernel('forward', conv, gpu)).toEqual({ ...DEFAULT_KERNELS.forward, winograd: DEFAULT_WINOGRAD.forward });
    expect(formatVariant(defaultKernel('inputGrad', conv, gpu))).toBe('wino:32x4p');
    expect(formatVariant(defaultKernel('filterGrad', conv, gpu))).toBe('wino:16x4');
  });

  it('keeps the GEMM for an image input, strides, 1×1 filters, matmuls, small devices and unknown limits', () => {
    for (const op of ['forward', 'filterGrad'] as const) expect(defaultKernel(op, rgb, gpu)).toEqual(DEFAULT_KERNELS[op]);
    expect(defaultKernel('forward', strided, gpu)).toEqual(DEFAULT_KERNELS.forward);
    expect(defaultKernel('forward', oneByOne, gpu)).toEqual(DEFAULT_KERNELS.forward);
    expect(defaultKernel('matmul', undefined, gpu)).toEqual(DEFAULT_KERNELS.matmul);
    // wino:32x4p needs ~30 KB of workgroup memory: WebGPU's guaranteed 16 KB is too little.
    expect(defaultKernel('forward', conv, baseline)).toEqual(DEFAULT_KERNELS.forward);
    expect(defaultKernel('forward', conv, null)).toEqual(DEFAULT_KERNELS.forward);
  });

  it('chooseKernel gives untuned shapes their default under the device\'s limits', () => {
    const key = convShapeKey('forward', conv);
    expect(chooseKernel('forward', key, shapeOf('forward', conv), noEnv)).toEqual(DEFAULT_KERNELS.forward);
    expect(chooseKernel('forward', key, shapeOf('forward', conv), noEnv, gpu).winograd).toEqual(DEFAULT_WINOGRAD.forward);
    expect(usedKernels()).toEqual([{ key, variant: 'wino:32x4p', source: 'default' }]);
    const rgbKey = convShapeKey('forward', rgb);
    expect(chooseKernel('forward', rgbKey, shapeOf('forward', rgb), noEnv, gpu)).toEqual(DEFAULT_KERNELS.forward);
    expect(chooseKernel('forward', key, shapeOf('forward', conv), noEnv, baseline)).toEqual(DEFAULT_KERNELS.forward);
  });
});

describe('chooseKernel', () => {
  it('uses the default and notes the shape for tuning, once, while recording', () => {
    setRecording(true);
    const key = convShapeKey('forward', conv);
    expect(chooseKernel('forward', key, shapeOf('forward', conv), noEnv)).toEqual(DEFAULT_KERNELS.forward);
    chooseKernel('forward', key, shapeOf('forward', conv), noEnv);
    const pending = takePending();
    expect(pending.map((p) => p.key)).toEqual([key]);
    expect(pending[0]!.flops).toBe(2 * 32 * 252 * 252 * 50 * 9 * 50);
    expect(takePending()).toEqual([]);
    expect(usedKernels()).toEqual([{ key, variant: formatVariant(DEFAULT_KERNELS.forward), source: 'default' }]);
  });

  it('does not note shapes too small to be worth timing, nor any shape when not recording', () => {
    setRecording(true);
    chooseKernel('forward', convShapeKey('forward', small), shapeOf('forward', small), noEnv);
    expect(takePending()).toEqual([]);
    setRecording(false);
    chooseKernel('forward', convShapeKey('forward', conv), shapeOf('forward', conv), noEnv);
    expect(takePending()).toEqual([]);
    setRecording(true, 0);
    chooseKernel('forward', convShapeKey('forward', small), shapeOf('forward', small), noEnv);
    expect(takePending()).toHaveLength(1);
  });

  it('a measured choice replaces the default for that shape only, and an override beats both', () => {
    setRecording(true);
    const key = convShapeKey('filterGrad', conv);
    setTuned(key, parseVariant('8x8:vec4p'), 'measured', 4.5, 9);
    expect(chooseKernel('filterGrad', key, shapeOf('filterGrad', conv), noEnv)).toEqual(parseVariant('8x8:vec4p'));
    expect(takePending()).toEqual([]);
    expect(usedKernels()).toEqual([{ key, variant: '8x8:vec4p', source: 'measured', ms: 4.5, defaultMs: 9 }]);
    const other = convShapeKey('forward', conv);
    expect(chooseKernel('forward', other, shapeOf('forward', conv), noEnv)).toEqual(DEFAULT_KERNELS.forward);
    expect(chooseKernel('filterGrad', key, shapeOf('filterGrad', conv), { PARTS_CONV_TILES: 'filterGrad:4x2' })).toEqual(parseVariant('4x2'));
    expect(usedKernels().find((u) => u.key === key)?.source).toBe('override');
  });

  it('a shape whose tuning failed keeps the default and is not noted again', () => {
    setRecording(true);
    const key = convShapeKey('forward', conv);
    chooseKernel('forward', key, shapeOf('forward', conv), noEnv);
    markUntunable(key);
    expect(takePending()).toEqual([]);
    chooseKernel('forward', key, shapeOf('forward', conv), noEnv);
    expect(takePending()).toEqual([]);
  });

  it('shape keys tell strides, padding and the op apart', () => {
    const strided = backend_util.computeConv2DInfo([32, 254, 254, 50], [3, 3, 50, 50], 2, 1, 'valid');
    const padded = backend_util.computeConv2DInfo([32, 254, 254, 50], [3, 3, 50, 50], 1, 1, 'same');
    const keys = new Set([convShapeKey('forward', conv), convShapeKey('forward', strided), convShapeKey('forward', padded), convShapeKey('filterGrad', conv)]);
    expect(keys.size).toBe(4);
  });
});

describe('exceedsLimits', () => {
  it('names the first limit a variant exceeds, or null', () => {
    const limits = { maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 256 };
    expect(exceedsLimits(32768, 256, limits)).toBeNull();
    expect(exceedsLimits(32769, 512, limits)).toBe('needs 32769 bytes of workgroup memory, the device allows 32768');
    expect(exceedsLimits(1024, 512, limits)).toBe('needs 512 invocations per workgroup, the device allows 256');
    expect(winogradUnfit(parseVariant('wino:32x4n64').winograd!, limits)).toMatch(/needs 512 invocations/);
    expect(winogradUnfit(parseVariant('wino:16x4').winograd!, limits)).toBeNull();
  });
});

describe('familyBests', () => {
  it('names the best GEMM and the best Winograd variant when both were timed', () => {
    expect(familyBests({ '8x4': 2, '4x4:vec4': 1.5, 'wino:16x4': 0.75, 'wino:16x8': 'needs 43520 bytes' })).toBe(
      '; best GEMM 4x4:vec4 1.500 ms, best Winograd wino:16x4 0.750 ms',
    );
    expect(familyBests({ '8x4': 2, '4x4': 1 })).toBe('');
    expect(familyBests({ '8x4': 2, 'wino:16x4': 'failed on this device' })).toBe('');
  });
});

describe('fastest', () => {
  it('takes the clearly fastest variant, and keeps the default when the difference is noise (≤ 2%)', () => {
    expect(fastest([['8x4', 10], ['4x4', 6], ['8x8:vec4p', 7]], '8x4')).toEqual(['4x4', 6]);
    expect(fastest([['8x4', 10], ['4x4', 9.9]], '8x4')).toEqual(['8x4', 10]);
    expect(fastest([['4x4', 3], ['8x4', 10]], '8x4')).toEqual(['4x4', 3]);
    // Not the first candidate that beats the default by 2%: the fastest of all.
    expect(fastest([['8x4', 10], ['4x4', 9.7], ['4x2', 9.6]], '8x4')).toEqual(['4x2', 9.6]);
    expect(fastest([['8x4', 10], ['4x4', 9.85]], '8x4')).toEqual(['8x4', 10]);
  });
});

describe('tuning cache file', () => {
  const rev = kernelRevision();

  it('kernelRevision is a stable hash of the kernel code', () => {
    expect(rev).toMatch(/^[0-9a-f]{16}$/);
    expect(kernelRevision()).toBe(rev);
  });

  it('round-trips one adapter\'s entries; another adapter or kernel revision gets none', async () => {
    const file = path.join(tmp(), 'sub', 'webgpu-kernels.json');
    await saveTuneCache(file, 'GPU A', rev, { 'forward k1': { variant: '8x8:vec4p', ms: 1, defaultMs: 2 } });
    await saveTuneCache(file, 'GPU B', rev, { 'forward k1': { variant: '4x4' } });
    await saveTuneCache(file, 'GPU A', rev, { 'filterGrad k2': { variant: '4x2' } });
    expect(loadTuneCache(file, 'GPU A', rev).entries).toEqual({ 'forward k1': { variant: '8x8:vec4p', ms: 1, defaultMs: 2 }, 'filterGrad k2': { variant: '4x2' } });
    expect(loadTuneCache(file, 'GPU B', rev).entries).toEqual({ 'forward k1': { variant: '4x4' } });
    expect(loadTuneCache(file, 'GPU C', rev).entries).toEqual({});
    expect(loadTuneCache(file, 'GPU A', 'other-revision').entries).toEqual({});
    // A new revision replaces that adapter's stale entries instead of merging into them.
    await saveTuneCache(file, 'GPU A', 'rev2', { 'forward k3': { variant: '4x4' } });
    expect(loadTuneCache(file, 'GPU A', 'rev2').entries).toEqual({ 'forward k3': { variant: '4x4' } });
    expect(readdirSync(path.dirname(file))).toEqual(['webgpu-kernels.json']); // no temp file left
  });

  it('ignores a missing, corrupt or foreign file (with a warning) and entries naming no variant', () => {
    const dir = tmp();
    expect(loadTuneCache(path.join(dir, 'none.json'), 'GPU A', rev)).toEqual({ entries: {} });
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, '{"format": 1, "adapt');
    expect(loadTuneCache(bad, 'GPU A', rev).warning).toMatch(/bad\.json: not valid JSON/);
    writeFileSync(bad, JSON.stringify({ format: 7 }));
    expect(loadTuneCache(bad, 'GPU A', rev).warning).toMatch(/unknown format/);
    writeFileSync(bad, JSON.stringify({ format: 1, adapters: { 'GPU A': { revision: rev, kernels: { a: { variant: '9x9' }, b: { variant: '4x4:vec4' } } } } }));
    expect(loadTuneCache(bad, 'GPU A', rev).entries).toEqual({ b: { variant: '4x4:vec4' } });
  });

  it('lives under XDG_CACHE_HOME or ~/.cache unless PARTS_WEBGPU_TUNE_CACHE names a file', () => {
    expect(tuneCachePath({ XDG_CACHE_HOME: '/c' })).toBe('/c/parts-classifier/webgpu-kernels.json');
    expect(tuneCachePath({ PARTS_WEBGPU_TUNE_CACHE: '/x/t.json', XDG_CACHE_HOME: '/c' })).toBe('/x/t.json');
    expect(tuneCachePath({})).toBe(path.join(os.homedir(), '.cache', 'parts-classifier', 'webgpu-kernels.json'));
  });
});

describe('initKernelTuning', () => {
  it('is on for a hardware adapter and loads its cached choices; off for a software one unless asked for', async () => {
    const file = path.join(tmp(), 'k.json');
    const key = convShapeKey('forward', conv);
    await saveTuneCache(file, 'WebGPU: nvidia hopper', kernelRevision(), { [key]: { variant: '8x8:vec4p', ms: 3, defaultMs: 6 } });
    expect(initKernelTuning({ device: 'WebGPU: nvidia hopper', software: false }, { PARTS_WEBGPU_TUNE_CACHE: file })).toBe(true);
    expect(chooseKernel('forward', key, shapeOf('forward', conv), noEnv)).toEqual(parseVariant('8x8:vec4p'));
    expect(usedKernels()[0]).toMatchObject({ source: 'cache', ms: 3, defaultMs: 6 });
    expect(JSON.parse(readFileSync(file, 'utf8')).format).toBe(1);

    resetKernelChoices();
    expect(initKernelTuning({ device: 'WebGPU: mesa llvmpipe [software]', software: true }, { PARTS_WEBGPU_TUNE_CACHE: file })).toBe(false);
    expect(chooseKernel('forward', key, shapeOf('forward', conv), noEnv)).toEqual(DEFAULT_KERNELS.forward);
    expect(takePending()).toEqual([]);
    expect(initKernelTuning({ device: 'x [software]', software: true }, { PARTS_WEBGPU_AUTOTUNE: '1', PARTS_WEBGPU_TUNE_CACHE: file })).toBe(true);
    expect(initKernelTuning({ device: 'WebGPU: nvidia hopper', software: false }, { PARTS_WEBGPU_AUTOTUNE: '0' })).toBe(false);
    expect(() => initKernelTuning({ device: 'x', software: false }, { PARTS_WEBGPU_AUTOTUNE: 'yes' })).toThrow(/PARTS_WEBGPU_AUTOTUNE must be 0 or 1/);
    expect(() => initKernelTuning({ device: 'x', software: false }, { PARTS_WEBGPU_TUNE_MIN_FLOPS: 'lots' })).toThrow(/PARTS_WEBGPU_TUNE_MIN_FLOPS must be a number/);
  });

  it('PARTS_WEBGPU_TUNE_MIN_FLOPS sets the smallest shape worth timing', () => {
    const key = convShapeKey('forward', small);
    initKernelTuning({ device: 'x', software: false }, { PARTS_WEBGPU_TUNE_CACHE: path.join(tmp(), 'k.json') });
    chooseKernel('forward', key, shapeOf('forward', small), noEnv);
    expect(takePending()).toEqual([]);
    resetKernelChoices();
    initKernelTuning({ device: 'x', software: false }, { PARTS_WEBGPU_TUNE_CACHE: path.join(tmp(), 'k.json'), PARTS_WEBGPU_TUNE_MIN_FLOPS: '0' });
    chooseKernel('forward', key, shapeOf('forward', small), noEnv);
    expect(takePending().map((p) => p.key)).toEqual([key]);
  });
});
