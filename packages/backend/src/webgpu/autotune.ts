// Per-shape kernel autotuning on WebGPU (like cuDNN's benchmark mode). A training run's first
// step notes every convolution/matmul shape it met (kernel-choice.ts); `tuneWebGPUKernels()` then
// times each candidate variant on those shapes with GPU timestamps (wall clock where the adapter
// has no timestamp queries), checks each candidate's output against the default variant's, and
// keeps the fastest correct one. Results are cached per adapter and kernel-code revision in
// ~/.cache/parts-classifier/webgpu-kernels.json, so the next run starts tuned.
import { createHash } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { ConvGemmProgram, runConvGemm, runSplitKMatMul, workgroupStorageBytes, type ConvGemmOp } from './kernels/conv-gemm';
import { SumSplitsProgram } from './kernels/split-k';
import { exceedsLimits } from './kernels/device-limits';
import { WinogradFilterProgram, WinogradProgram, winogradApplies, winogradUnfit } from './kernels/winograd';
import { WinogradFilterGradProgram } from './kernels/winograd-filter-grad';
import {
  DEFAULT_KERNELS,
  MIN_TUNE_FLOPS,
  defaultKernel,
  formatVariant,
  isRecording,
  markUntunable,
  parseVariant,
  setRecording,
  setTuned,
  takePending,
  type ConvKernelChoice,
  type TuneShape,
} from './kernels/kernel-choice';
import { cacheDir, envSetting, processEnv, type RawEnv } from '@parts/cli';

/** Variants timed per shape (besides the default): the tile shapes and inner loops conv-gemm.ts offers. */
export const TUNE_CANDIDATES = ['8x4', '4x4', '4x2', '8x4:scalarp', '4x4:vec4', '8x4:vec4', '8x8:vec4', '8x4:vec4p', '4x4:vec4p', '8x8:vec4p', '4x8:vec4p'];

/**
 * Also timed where Winograd applies (forward and input gradient of 3×3 stride-1 convolutions).
 * n56: 56-channel blocks (for 50-channel layers like Tiny VGG's, 11% wasted instead of 22%);
 * 32x4n64/n56: 512/448 threads, half the transformed-filter reads per output of the 16-tile ones
 * (skipped where the device allows fewer invocations per workgroup).
 * BK 8 needs more than 32 KB of workgroup memory: skipped with the reason on devices that allow less.
 */
export const WINOGRAD_CANDIDATES = [
  'wino:16x4', 'wino:32x4', 'wino:16x4p', 'wino:32x4p', 'wino:16x4n56', 'wino:16x4n56p',
  'wino:32x4n64', 'wino:32x4n64p', 'wino:32x4n56', 'wino:32x4n56p',
  'wino:16x8', 'wino:32x8', 'wino:16x8p', 'wino:32x8p',
];

/**
 * The filter gradient's Winograd kernel (F(3×3, 2×2)) takes only the channel block and prefetch
 * from a variant: 64 (wino:16x4) or 56 (wino:16x4n56, for 50-channel layers).
 */
export const WINOGRAD_FILTER_GRAD_CANDIDATES = ['wino:16x4', 'wino:16x4n56', 'wino:16x4p', 'wino:16x4n56p'];

/** The candidates for one shape: the GEMM variants, plus Winograd's where it applies. */
export function candidatesFor(s: TuneShape): string[] {
  if (s.op === 'matmul' || !s.conv || !winogradApplies(s.conv)) return TUNE_CANDIDATES;
  return [...TUNE_CANDIDATES, ...(s.op === 'filterGrad' ? WINOGRAD_FILTER_GRAD_CANDIDATES : WINOGRAD_CANDIDATES)];
}

export interface TuneResult {
  key: string;
  op: ConvGemmOp;
  flops: number;
  variant: string;
  ms: number;
  defaultVariant: string;
  defaultMs: number;
  /** Milliseconds per candidate; a rejected one has the reason instead. */
  timings: Record<string, number | string>;
  timer: 'gpu' | 'wall';
}

export interface TuneOptions {
  candidates?: string[];
  /** Timed launches per candidate (the minimum counts). */
  rounds?: number;
  /** A candidate whose output differs from the default variant's by more than this (relative to its largest value) is rejected. */
  tolerance?: number;
  /** 'gpu' (timestamp queries; the default where the device has them) or 'wall' (clock around an idle queue). */
  timer?: 'gpu' | 'wall';
  log?: (line: string) => void;
}

// ---- the tuning state of this process ----

let adapterId: string | null = null;
let cacheFile: string | null = null;

/**
 * Called by setupWebGPU once the adapter is known: switches shape recording on (for a hardware
 * adapter, or anywhere with PARTS_WEBGPU_AUTOTUNE=1; PARTS_WEBGPU_AUTOTUNE=0 switches it off) and
 * loads the cached choices for this adapter. Shapes under `minTuneFlops` (PARTS_WEBGPU_TUNE_MIN_FLOPS)
 * keep the default. Returns whether tuning is on.
 */
export function initKernelTuning(adapter: { device: string; software: boolean }, env: RawEnv = processEnv(), minTuneFlops?: number): boolean {
  const flag = envSetting('PARTS_WEBGPU_AUTOTUNE', env);
  minTuneFlops ??= envSetting('PARTS_WEBGPU_TUNE_MIN_FLOPS', env) ?? MIN_TUNE_FLOPS;
  const on = flag === true || (flag !== false && !adapter.software);
  adapterId = adapter.device;
  cacheFile = on ? tuneCachePath(env) : null;
  setRecording(on, minTuneFlops);
  if (on && cacheFile) {
    const cached = loadTuneCache(cacheFile, adapterId, kernelRevision());
    for (const [key, e] of Object.entries(cached.entries)) setTuned(key, parseVariant(e.variant, `${cacheFile}: ${key}`), 'cache', e.ms, e.defaultMs);
    if (cached.warning) console.warn(`webgpu autotune: ${cached.warning}`);
  }
  return on;
}

/**
 * Times the candidates for every shape noted since the last call (nothing to do when the
 * current backend is not WebGPU, tuning is off, or every shape met is tuned already), keeps the
 * fastest, and writes the cache. Returns what it measured.
 */
export async function tuneWebGPUKernels(opts: TuneOptions = {}): Promise<TuneResult[]> {
  if (tf.getBackend() !== 'webgpu' || !isRecording()) return [];
  const shapes = takePending();
  if (!shapes.length) return [];
  const log = opts.log ?? ((l: string) => console.log(l));
  const t0 = performance.now();
  log(`webgpu autotune: timing kernel variants for ${shapes.length} new shape(s) (once per GPU; cached in ${cacheFile ?? 'no file'})`);
  const results: TuneResult[] = [];
  for (const [i, s] of shapes.entries()) {
    let r: TuneResult;
    try {
      r = await tuneShape(tf.engine().backend as unknown as WebGPUBackend, s, opts);
    } catch (e) {
      // Tuning only ever speeds things up: a shape it cannot time keeps the default.
      markUntunable(s.key);
      log(`  [${i + 1}/${shapes.length}] ${s.key}: not tuned, keeps the default (${(e as Error).message})`);
      continue;
    }
    results.push(r);
    setTuned(r.key, parseVariant(r.variant), 'measured', r.ms, r.defaultMs);
    const speedup = r.defaultMs / r.ms;
    log(`  [${i + 1}/${shapes.length}] ${r.key}: ${r.variant} ${r.ms.toFixed(3)} ms` +
      (r.variant === r.defaultVariant ? ' (the default)' : ` (default ${r.defaultVariant} ${r.defaultMs.toFixed(3)} ms, ${speedup.toFixed(2)}×)`) +
      familyBests(r.timings));
  }
  log(`webgpu autotune: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  if (cacheFile && adapterId && results.length) {
    try {
      await saveTuneCache(cacheFile, adapterId, kernelRevision(), Object.fromEntries(results.map((r) => [r.key, { variant: r.variant, ms: r.ms, defaultMs: r.defaultMs }])));
    } catch (e) {
      log(`webgpu autotune: could not write ${cacheFile}: ${(e as Error).message} (the choices hold for this run only)`);
    }
  }
  return results;
}

// ---- timing one shape ----

/**
 * Times every candidate on one shape with random operands. The reference output is the op's
 * default GEMM's (DEFAULT_KERNELS, run first); speed-ups are against this shape's default
 * (defaultKernel: Winograd where it applies by default).
 */
export async function tuneShape(backend: WebGPUBackend, s: TuneShape, opts: TuneOptions = {}): Promise<TuneResult> {
  const rounds = opts.rounds ?? 3;
  const tolerance = opts.tolerance ?? 1e-3;
  const referenceVariant = formatVariant(DEFAULT_KERNELS[s.op]);
  const defaultVariant = formatVariant(defaultKernel(s.op, s.conv, backend.device.limits));
  const names = [...new Set([referenceVariant, defaultVariant, ...(opts.candidates ?? candidatesFor(s)).map((v) => formatVariant(parseVariant(v)))])];
  const timer: 'gpu' | 'wall' = opts.timer ?? (backend.device.features.has('timestamp-query') ? 'gpu' : 'wall');
  const operands = makeOperands(s);
  const run = (c: ConvKernelChoice): tf.TensorInfo =>
    s.op === 'matmul'
      ? runSplitKMatMul(backend, operands[0], operands[1], s.matmul!.M, s.matmul!.K, s.matmul!.N, [s.matmul!.M, s.matmul!.N], undefined, undefined, c)
      : runConvGemm(backend, s.op, s.conv!, operands, undefined, c);
  const timings: Record<string, number | string> = {};
  let reference: tf.Tensor | null = null;
  try {
    for (const name of names) {
      const c = parseVariant(name);
      const unfit = c.winograd ? winogradUnfit(c.winograd, backend.device.limits) : exceedsLimits(workgroupStorageBytes(c.tile, c.core), 256, backend.device.limits);
      if (unfit) {
        timings[name] = unfit;
        continue;
      }
      const first = await firstLaunch(backend, () => run(c));
      if (typeof first === 'string') {
        timings[name] = first;
        continue;
      }
      if (!reference) {
        reference = first;
      } else {
        try {
          const err = await relativeDifference(first, reference);
          if (!(err <= tolerance)) {
            timings[name] = `wrong result (relative difference ${err.toExponential(2)} from ${referenceVariant})`;
            continue;
          }
        } finally {
          first.dispose();
        }
      }
      let best = Infinity;
      for (let i = 0; i < rounds; i++) best = Math.min(best, await timeLaunch(backend, () => run(c), timer));
      timings[name] = Math.round(best * 1e4) / 1e4;
    }
  } finally {
    reference?.dispose();
    tf.dispose(operands);
  }
  const timed = Object.entries(timings).filter((e): e is [string, number] => typeof e[1] === 'number');
  if (typeof timings[referenceVariant] !== 'number') throw new Error(`webgpu autotune: the default variant ${referenceVariant} did not run on ${s.key}: ${timings[referenceVariant]}`);
  // A default that fails here (a driver that miscompiles it) is never kept: the GEMM's time is the baseline then.
  const baseline = typeof timings[defaultVariant] === 'number' ? defaultVariant : referenceVariant;
  const [variant, ms] = fastest(timed, baseline);
  return { key: s.key, op: s.op, flops: s.flops, variant, ms, defaultVariant: baseline, defaultMs: timings[baseline] as number, timings, timer };
}

/** Where both families were timed: the best GEMM and the best Winograd variant (what Winograd gains or loses on this shape). */
export function familyBests(timings: Record<string, number | string>): string {
  const timed = Object.entries(timings).filter((e): e is [string, number] => typeof e[1] === 'number');
  const best = (wino: boolean) => timed.filter(([n]) => n.startsWith('wino:') === wino).reduce<[string, number] | null>((a, b) => (!a || b[1] < a[1] ? b : a), null);
  const [g, w] = [best(false), best(true)];
  return g && w ? `; best GEMM ${g[0]} ${g[1].toFixed(3)} ms, best Winograd ${w[0]} ${w[1].toFixed(3)} ms` : '';
}

/** The fastest (name, ms), unless it is within 2% of the default: then the default (noise alone never moves a shape off it). */
export function fastest(timed: [string, number][], defaultVariant: string): [string, number] {
  const best = timed.reduce((a, b) => (b[1] < a[1] ? b : a));
  const def = timed.find(([n]) => n === defaultVariant);
  return def && best[1] >= def[1] * 0.98 ? def : best;
}

/** Ends the open compute pass and submits: tfjs' submitQueue alone leaves a pass open (invalid) and fails on a second call. */
function flush(backend: WebGPUBackend): void {
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  backend.submitQueue();
}

/**
 * The first launch of a variant (its pipeline compiles here), with device errors caught: the output
 * as a tensor, or why the variant cannot run on this device.
 */
async function firstLaunch(backend: WebGPUBackend, launch: () => tf.TensorInfo): Promise<tf.Tensor | string> {
  flush(backend); // earlier work must not land in this variant's error scopes, nor its errors in later ones
  backend.device.pushErrorScope('validation');
  backend.device.pushErrorScope('internal');
  let out: tf.Tensor | null = null;
  let thrown: Error | null = null;
  try {
    out = tf.engine().makeTensorFromTensorInfo(launch());
    flush(backend);
  } catch (e) {
    thrown = e as Error;
  }
  const errors = [await backend.device.popErrorScope(), await backend.device.popErrorScope()].filter(Boolean);
  if (!thrown && !errors.length) return out!;
  out?.dispose();
  return `failed on this device: ${(thrown?.message ?? errors[0]!.message).split('\n')[0]}`;
}

function makeOperands(s: TuneShape): tf.Tensor[] {
  // Random values drawn in JavaScript cost seconds for 100M-element operands: draw 64k and tile them
  // on the GPU (timing does not depend on the values; the correctness check compares variants on the same ones).
  const rand = (shape: number[]) =>
    tf.tidy(() => {
      const size = shape.reduce((a, b) => a * b, 1);
      const n = Math.min(size, 65521); // prime: tiles do not line up with power-of-two strides
      const base = tf.randomUniform([n], -1, 1, 'float32', 7);
      return tf.reshape(tf.slice(tf.tile(base, [Math.ceil(size / n)]), 0, size), shape);
    });
  if (s.op === 'matmul') return [rand([s.matmul!.M, s.matmul!.K]), rand([s.matmul!.K, s.matmul!.N])];
  const c = s.conv!;
  const x = () => rand([c.batchSize, c.inHeight, c.inWidth, c.inChannels]);
  const w = () => rand([c.filterHeight, c.filterWidth, c.inChannels, c.outChannels]);
  const dy = () => rand([c.batchSize, c.outHeight, c.outWidth, c.outChannels]);
  return s.op === 'forward' ? [x(), w()] : s.op === 'inputGrad' ? [dy(), w()] : [x(), dy()];
}

async function relativeDifference(a: tf.Tensor, ref: tf.Tensor): Promise<number> {
  const r = tf.tidy(() => tf.stack([tf.max(tf.abs(tf.sub(a, ref))), tf.max(tf.abs(ref))]));
  const [diff, scale] = await r.data();
  r.dispose();
  return diff / Math.max(scale, 1e-30);
}

/** Milliseconds of one launch: GPU timestamps of its programs, or wall clock between two idle queues. */
async function timeLaunch(backend: WebGPUBackend, launch: () => tf.TensorInfo, timer: 'gpu' | 'wall'): Promise<number> {
  if (timer === 'gpu') {
    const t = await tf.time(() => backend.disposeData(launch().dataId));
    return t.kernelMs as number;
  }
  const idle = async () => {
    flush(backend);
    await backend.device.queue.onSubmittedWorkDone();
  };
  await idle();
  const t0 = performance.now();
  backend.disposeData(launch().dataId);
  await idle();
  return performance.now() - t0;
}

// ---- the cache file ----

export interface TuneCacheEntry {
  variant: string;
  ms?: number;
  defaultMs?: number;
}

interface TuneCacheFile {
  format: 1;
  /** Per adapter (its description line): the kernel-code revision the entries were measured with, and the entries. */
  adapters: Record<string, { revision: string; kernels: Record<string, TuneCacheEntry> }>;
}

/** PARTS_WEBGPU_TUNE_CACHE, else webgpu-kernels.json in the project's cache folder (PARTS_CACHE_DIR, XDG_CACHE_HOME, ~/.cache). */
export function tuneCachePath(env: RawEnv = processEnv()): string {
  const file = envSetting('PARTS_WEBGPU_TUNE_CACHE', env);
  if (file) return path.resolve(file);
  return path.join(cacheDir(env), 'webgpu-kernels.json');
}

/**
 * The cached entries of one adapter, if measured with this kernel revision. A missing file is no
 * cache; an unreadable one is ignored with a warning (it is only a cache), never a failure.
 */
export function loadTuneCache(file: string, adapter: string, revision: string): { entries: Record<string, TuneCacheEntry>; warning?: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { entries: {} };
  }
  try {
    const parsed = JSON.parse(text) as TuneCacheFile;
    if (parsed?.format !== 1 || typeof parsed.adapters !== 'object' || parsed.adapters === null) return { entries: {}, warning: `${file}: unknown format, ignored` };
    const a = parsed.adapters[adapter];
    if (!a || a.revision !== revision) return { entries: {} };
    const entries: Record<string, TuneCacheEntry> = {};
    for (const [key, e] of Object.entries(a.kernels ?? {})) {
      try {
        parseVariant(e.variant);
        entries[key] = e;
      } catch {
        // an entry from a hand-edited file that names no variant we have: re-measured
      }
    }
    return { entries };
  } catch (e) {
    return { entries: {}, warning: `${file}: not valid JSON (${(e as Error).message}), ignored` };
  }
}

/** Merges `entries` into the file (other adapters' entries kept), written atomically (temp file + rename). */
export async function saveTuneCache(file: string, adapter: string, revision: string, entries: Record<string, TuneCacheEntry>): Promise<void> {
  let data: TuneCacheFile = { format: 1, adapters: {} };
  try {
    const old = JSON.parse(await fs.readFile(file, 'utf8')) as TuneCacheFile;
    if (old?.format === 1 && typeof old.adapters === 'object' && old.adapters !== null) data = old;
  } catch {
    // no file or not ours: start afresh
  }
  const prev = data.adapters[adapter];
  const kernels = prev && prev.revision === revision ? { ...prev.kernels, ...entries } : { ...entries };
  data.adapters[adapter] = { revision, kernels };
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(data, null, 1));
  await fs.rename(tmp, file);
}

let revision: string | null = null;

/**
 * A hash of the WGSL every candidate compiles to: cached choices are dropped when the kernel code
 * changes (a faster kernel after an edit must not lose to a stale measurement).
 */
export function kernelRevision(): string {
  if (revision) return revision;
  const h = createHash('sha256');
  const variants = [...new Set([...Object.values(DEFAULT_KERNELS).map(formatVariant), ...TUNE_CANDIDATES])];
  for (const op of ['forward', 'inputGrad', 'filterGrad', 'matmul'] as const) {
    for (const v of variants) {
      const c = parseVariant(v);
      h.update(new ConvGemmProgram({ op, outputShape: op === 'filterGrad' || op === 'matmul' ? [1, 1, 1] : [1, 1, 1, 1], M: 1, N: 1, splits: 1, ...c }).getUserCode());
      if (op === 'inputGrad') h.update(new ConvGemmProgram({ op, outputShape: [1, 1, 1, 1], M: 1, N: 1, splits: 1, unitStride: true, ...c }).getUserCode());
    }
  }
  for (const v of WINOGRAD_CANDIDATES) {
    const config = parseVariant(v).winograd!;
    h.update(new WinogradProgram({ op: 'forward', outputShape: [1, 1, 1, 1], config, tileCount: 1 }).getUserCode());
  }
  for (const op of ['forward', 'inputGrad'] as const) h.update(new WinogradFilterProgram(op, 8, 64).getUserCode());
  for (const bc of [64, 56]) for (const p of [false, true]) h.update(new WinogradFilterGradProgram(1, bc, bc, bc, p).getUserCode());
  h.update(new SumSplitsProgram([1]).getUserCode());
  revision = h.digest('hex').slice(0, 16);
  return revision;
}
