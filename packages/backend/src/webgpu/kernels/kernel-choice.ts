// Which tile shape and inner loop a convolution GEMM (or split-K matmul) runs with, per call:
//   1. an explicit override from the environment (PARTS_CONV_CORE / PARTS_CONV_TILES: A/B timing),
//   2. else the variant the autotuner measured fastest for this exact shape on this adapter
//      (autotune.ts; remembered across runs in a cache file),
//   3. else the default: Winograd (DEFAULT_WINOGRAD) for 3×3 stride-1 convolutions of at least
//      WINOGRAD_DEFAULT_MIN_CHANNELS channels where the device has the workgroup memory, else
//      DEFAULT_KERNELS' GEMM.
// The fastest variant depends on the GPU and on the layer's shape (call 1 on the H200: the 8×4 tile
// won conv2's filter gradient by 2×, 4×4 won conv4's by 5×), so no single default is right for all;
// like cuDNN's benchmark mode, the first step of a run records the shapes it met and the training
// loop then times the candidates once per shape.
import type { backend_util } from '@tensorflow/tfjs-core';
import type { ConvCore, ConvGemmOp, TileConfig } from './conv-gemm';
import { channelsOf, checkWinogradConfig, defaultChannels, winogradApplies, winogradUnfit, type WinogradConfig } from './winograd';
import type { ComputeLimits } from './device-limits';
import { envSetting, processEnv, type RawEnv } from '@parts/cli';

export interface ConvKernelChoice {
  tile: TileConfig;
  core: ConvCore;
  prefetch: boolean;
  /**
   * Winograd instead of the implicit GEMM for 3×3 stride-1 convolutions: F(2×2, 3×3) for the
   * forward pass and the input gradient (this config's workgroup shape), F(3×3, 2×2) for the filter
   * gradient (which takes only its channel block, at most 64). The GEMM fields above serve shapes it does not apply to.
   */
  winograd?: WinogradConfig;
}

/**
 * The GEMM variants for shapes the autotuner has not timed. Measured on the H100 and H200
 * (2026-11-26, Tiny VGG's layers, every variant): the vec4 inner loop with prefetch and 4×4 tiles
 * is the fastest or within 8% of it for every op and layer (the scalar 8×4 of call 1 was 1.2-2.3× slower).
 */
export const DEFAULT_KERNELS: Record<ConvGemmOp, ConvKernelChoice> = {
  forward: { tile: { tm: 4, tn: 4 }, core: 'vec4', prefetch: true },
  inputGrad: { tile: { tm: 4, tn: 4 }, core: 'vec4', prefetch: true },
  filterGrad: { tile: { tm: 4, tn: 4 }, core: 'vec4', prefetch: true },
  matmul: { tile: { tm: 4, tn: 4 }, core: 'vec4', prefetch: false },
};

/**
 * Winograd variants for untuned 3×3 stride-1 shapes: the tuner's choice on the H100 and H200 for
 * every 50-channel Tiny VGG layer (forward and input gradient 2.5-3× the old default GEMM,
 * 1.6-2.2× the best GEMM; filter gradient 1.2-1.35× the best GEMM).
 */
export const DEFAULT_WINOGRAD: Record<Exclude<ConvGemmOp, 'matmul'>, WinogradConfig> = {
  forward: { tiles: 32, bk: 4, prefetch: true },
  inputGrad: { tiles: 32, bk: 4, prefetch: true },
  filterGrad: { tiles: 16, bk: 4 },
};

/**
 * Fewer input or output channels than this keep the GEMM by default: with 3 input channels (an
 * image) Winograd's 64-channel blocks are mostly padding: it tied or lost to the GEMM, by up to 3.7×.
 */
export const WINOGRAD_DEFAULT_MIN_CHANNELS = 16;

/**
 * The untuned choice for one shape: DEFAULT_WINOGRAD where it applies and fits the device's
 * `limits` (unknown limits: the GEMM, as Winograd needs up to 30 KB of workgroup memory), else the op's GEMM.
 */
export function defaultKernel(op: ConvGemmOp, conv: backend_util.Conv2DInfo | undefined, limits: ComputeLimits | null): ConvKernelChoice {
  const gemm = DEFAULT_KERNELS[op];
  if (op === 'matmul' || !conv || !limits || !winogradApplies(conv)) return gemm;
  if (Math.min(conv.inChannels, conv.outChannels) < WINOGRAD_DEFAULT_MIN_CHANNELS) return gemm;
  const w = DEFAULT_WINOGRAD[op];
  return winogradUnfit(w, limits) ? gemm : { ...gemm, winograd: w };
}

/**
 * A variant as text: 'TMxTN' (scalar core) or 'TMxTN:core', core scalar|vec4 with 'p' for register
 * prefetch; 'wino:TILESxBK[nCHANNELS]' for Winograd ('p' appended: its prefetching loop).
 */
export function formatVariant(c: ConvKernelChoice): string {
  if (c.winograd) {
    const w = c.winograd;
    const n = channelsOf(w) !== defaultChannels(w.tiles) ? `n${w.channels}` : '';
    return `wino:${w.tiles}x${w.bk}${n}${w.prefetch ? 'p' : ''}`;
  }
  const core = `${c.core}${c.prefetch ? 'p' : ''}`;
  return `${c.tile.tm}x${c.tile.tn}${core === 'scalar' ? '' : `:${core}`}`;
}

/** Parses formatVariant's text; invalid combinations (TN 8 on the scalar core, TN 2 on vec4) are refused with the reason. */
export function parseVariant(text: string, what = 'kernel variant'): ConvKernelChoice {
  const [t, core] = text.split(':');
  if (t === 'wino') return { ...DEFAULT_KERNELS.forward, winograd: parseWinograd(core, text, what) };
  const c: ConvKernelChoice = { tile: parseTile(t, text, what), ...(parseCore(core, what) ?? { core: 'scalar', prefetch: false }) };
  checkChoice(c, `${what} '${text}'`);
  return c;
}

function parseTile(t: string | undefined, text: string, what: string): TileConfig {
  const [tm, tn] = (t ?? '').split('x').map(Number);
  if (!(tm === 4 || tm === 8) || !(tn === 2 || tn === 4 || tn === 8)) throw new Error(`${what}: bad tile '${text}' (TMxTN, TM 4|8, TN 2|4|8)`);
  return { tm, tn };
}

function parseWinograd(v: string | undefined, text: string, what: string): WinogradConfig {
  const m = /^(16|32)x(4|8)(?:n(\d+))?(p?)$/.exec(v ?? '');
  if (!m) throw new Error(`${what}: bad Winograd variant '${text}' (wino:TILESxBK[nCHANNELS][p], TILES 16|32, BK 4|8, p: register prefetch)`);
  const w: WinogradConfig = { tiles: Number(m[1]) as 16 | 32, bk: Number(m[2]) as 4 | 8, prefetch: m[4] === 'p', ...(m[3] ? { channels: Number(m[3]) } : {}) };
  try {
    checkWinogradConfig(w);
  } catch (e) {
    throw new Error(`${what} '${text}': ${(e as Error).message}`);
  }
  return w;
}

function checkChoice(c: ConvKernelChoice, what: string): void {
  if (c.core === 'vec4' && c.tile.tn === 2) throw new Error(`${what}: the vec4 core needs TN 4 or 8`);
  if (c.core === 'scalar' && c.tile.tn === 8) throw new Error(`${what}: the scalar core takes TN 2 or 4`);
}

function parseCore(v: string | undefined, what: string): { core: ConvCore; prefetch: boolean } | null {
  if (v === undefined || v === '') return null;
  const m = /^(scalar|vec4)(p?)$/.exec(v);
  if (!m) throw new Error(`${what}: conv core must be scalar, vec4, scalarp or vec4p ('p': register prefetch), got '${v}'`);
  return { core: m[1] as ConvCore, prefetch: m[2] === 'p' };
}

/**
 * The environment's override for `op`, or null: PARTS_CONV_CORE=vec4 (or scalar, vec4p, scalarp)
 * switches every op's inner loop, PARTS_CONV_TILES=forward:8x8:vec4p,inputGrad:4x4,... sets one op's
 * tile (and inner loop: scalar unless named or set by PARTS_CONV_CORE); forward:wino:16x4 runs
 * Winograd wherever it applies.
 */
export function envOverride(op: ConvGemmOp, env: RawEnv = processEnv()): ConvKernelChoice | null {
  let choice: ConvKernelChoice | null = null;
  const core = parseCore(envSetting('PARTS_CONV_CORE', env), 'PARTS_CONV_CORE');
  if (core) choice = { ...DEFAULT_KERNELS[op], ...core };
  for (const part of (envSetting('PARTS_CONV_TILES', env) ?? '').split(',').filter(Boolean)) {
    const [name, t, c] = part.split(':');
    if (name !== op) continue;
    if (t === 'wino') {
      // Winograd where it applies, this op's GEMM elsewhere.
      choice = { ...(choice ?? DEFAULT_KERNELS[op]), winograd: parseWinograd(c, part, 'PARTS_CONV_TILES') };
      continue;
    }
    // A tile without a core takes PARTS_CONV_CORE's inner loop, else the scalar one (what the variant text '4x2' means).
    const tileCore = parseCore(c, 'PARTS_CONV_TILES') ?? core ?? { core: 'scalar' as const, prefetch: false };
    choice = { ...(choice ?? DEFAULT_KERNELS[op]), tile: parseTile(t, part, 'PARTS_CONV_TILES'), ...tileCore };
  }
  if (choice) checkChoice(choice, `PARTS_CONV_TILES/PARTS_CONV_CORE: ${op}`);
  return choice;
}

/** Everything the autotuner needs to rerun one GEMM with other variants. */
export interface TuneShape {
  key: string;
  op: ConvGemmOp;
  /** Convolution geometry (forward, inputGrad, filterGrad). */
  conv?: backend_util.Conv2DInfo;
  /** Plain product A[M,K]·B[K,N] (op 'matmul'). */
  matmul?: { M: number; K: number; N: number };
  flops: number;
}

/** The shape key: op and every geometry field that changes the work (not the epilogue). */
export function convShapeKey(op: ConvGemmOp, c: backend_util.Conv2DInfo): string {
  return `${op} x${c.batchSize}x${c.inHeight}x${c.inWidth}x${c.inChannels} f${c.filterHeight}x${c.filterWidth}x${c.outChannels} ` +
    `s${c.strideHeight}x${c.strideWidth} d${c.dilationHeight}x${c.dilationWidth} p${c.padInfo.top}x${c.padInfo.left} o${c.outHeight}x${c.outWidth}`;
}

export function matmulShapeKey(M: number, K: number, N: number): string {
  return `matmul ${M}x${K}x${N}`;
}

export function convFlops(c: backend_util.Conv2DInfo): number {
  return 2 * c.batchSize * c.outHeight * c.outWidth * c.outChannels * c.filterHeight * c.filterWidth * c.inChannels;
}

export type ChoiceSource = 'override' | 'measured' | 'cache' | 'default';

export interface UsedKernel {
  key: string;
  variant: string;
  source: ChoiceSource;
  /** GPU (or wall) milliseconds of the chosen variant when it was measured. */
  ms?: number;
  /** The default variant's time in the same measurement. */
  defaultMs?: number;
}

interface Tuned {
  choice: ConvKernelChoice;
  source: 'measured' | 'cache';
  ms?: number;
  defaultMs?: number;
}

/** Shapes cheaper than this are not worth timing (launch overhead dominates): they keep the default. */
export const MIN_TUNE_FLOPS = 2e8;

const tuned = new Map<string, Tuned>();
const pending = new Map<string, TuneShape>();
const used = new Map<string, UsedKernel>();
/** Shapes whose tuning failed: they keep the default and are not noted again. */
const untunable = new Set<string>();
// Bounds for processes that record but never tune (serve, predict with many batch sizes).
const MAX_PENDING = 512;
const MAX_USED = 4096;
let recording = false;
let minFlops = MIN_TUNE_FLOPS;

/**
 * Whether shapes without a measurement (and of at least `minTuneFlops`) are noted for the
 * autotuner; autotune.ts switches it on for a GPU adapter.
 */
export function setRecording(on: boolean, minTuneFlops = MIN_TUNE_FLOPS): void {
  recording = on;
  minFlops = minTuneFlops;
  if (!on) pending.clear();
}

export function isRecording(): boolean {
  return recording;
}

/**
 * The kernel for one GEMM of shape `key` on a device with `limits` (they decide the default). `shape`
 * is called only when the shape's geometry is needed: to note it for tuning, or for an untuned
 * convolution's default.
 */
export function chooseKernel(op: ConvGemmOp, key: string, shape: () => TuneShape, env: RawEnv = processEnv(), limits: ComputeLimits | null = null): ConvKernelChoice {
  let override = envOverride(op, env);
  if (override?.winograd) {
    // Winograd where it applies; the op's GEMM (what runConvGemm runs then) elsewhere.
    const conv = op === 'matmul' ? undefined : shape().conv;
    if (!conv || !winogradApplies(conv)) override = { ...override, winograd: undefined };
  }
  if (override) {
    noteUsed({ key, variant: formatVariant(override), source: 'override' });
    return override;
  }
  const t = tuned.get(key);
  if (t) {
    noteUsed({ key, variant: formatVariant(t.choice), source: t.source, ms: t.ms, defaultMs: t.defaultMs });
    return t.choice;
  }
  if (recording && !pending.has(key) && !untunable.has(key) && pending.size < MAX_PENDING) {
    const s = shape();
    if (s.flops >= minFlops) pending.set(key, s);
  }
  const def = defaultKernel(op, op === 'matmul' ? undefined : shape().conv, limits);
  noteUsed({ key, variant: formatVariant(def), source: 'default' });
  return def;
}

function noteUsed(u: UsedKernel): void {
  const old = used.get(u.key);
  if (!old && used.size >= MAX_USED) return;
  if (!old || old.variant !== u.variant || old.source !== u.source) used.set(u.key, u);
}

/** Shapes met since the last call that have no measurement yet (and are worth one); clears the list. */
export function takePending(): TuneShape[] {
  const out = [...pending.values()];
  pending.clear();
  return out;
}

/** Records a measured (or cached) choice for a shape key; later calls of that shape use it. */
export function setTuned(key: string, choice: ConvKernelChoice, source: 'measured' | 'cache', ms?: number, defaultMs?: number): void {
  tuned.set(key, { choice, source, ms, defaultMs });
  pending.delete(key);
}

/** A shape whose tuning failed keeps the default and is not noted for tuning again. */
export function markUntunable(key: string): void {
  untunable.add(key);
  pending.delete(key);
}

/** The kernel each GEMM shape ran with in this process, and why (for a run folder's kernels.json). */
export function usedKernels(): UsedKernel[] {
  return [...used.values()];
}

/** Clears every table (tests). */
export function resetKernelChoices(): void {
  tuned.clear();
  pending.clear();
  used.clear();
  untunable.clear();
  recording = false;
  minFlops = MIN_TUNE_FLOPS;
}
