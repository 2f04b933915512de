// `pnpm bench`: throughput of the models' forward pass and training step on each backend,
// and of sharp decode+resize. Prints figures; never pass/fail.
import { spawnSync } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import fg from 'fast-glob';
import { createAdam } from '@parts/backend';
import { decodeImage } from '@parts/data';
import { buildClassifier, fuseBatchNormRelu } from '@parts/models';
import { forwardFlops } from './flops';
import { trainStep } from './fit-loop';
import { microBatchFor } from './memory';
import { envSetting, processEnv } from '@parts/cli';

export interface BenchRecord {
  backend: string;
  model: string;
  phase: 'forward' | 'train' | 'decode';
  imgSize: number;
  batch: number;
  imagesPerSec: number;
  gflopsPerSec: number | null;
  /** The training step's micro-batch where the batch is split (wasm heap limit), as `pnpm train` does. */
  microBatch?: number;
  /** Share of the backend's peak FLOP rate (wasm: the SIMD ceiling, see `wasmSimdCeiling`), 0..1. */
  ceilingShare?: number;
}

export interface BenchModelOptions {
  arch: string;
  imgSize: number;
  batch: number;
  /** Stop timing a phase after this long (after at least one timed iteration). */
  minSeconds: number;
  maxIters: number;
  /**
   * Called after one untimed call of each phase: an autotuning backend (WebGPU) times its kernel
   * variants on the shapes just met, so the figures are those of the tuned kernels.
   */
  tune?: () => Promise<unknown>;
}

async function timeIt(fn: () => Promise<void>, minSeconds: number, maxIters: number): Promise<{ iters: number; seconds: number }> {
  await fn(); // warm-up: kernel compilation, memory allocation
  const t0 = performance.now();
  let iters = 0;
  do {
    await fn();
    iters++;
  } while (iters < maxIters && (performance.now() - t0) / 1000 < minSeconds);
  return { iters, seconds: (performance.now() - t0) / 1000 };
}

/**
 * timeIt for a call that returns a tensor, keeping one call in flight: on a GPU, waiting for each
 * result before queueing the next call would measure readback latency rather than throughput.
 * The last result is read (and disposed) after the clock stops.
 */
async function timeInFlight(run: () => tf.Tensor, minSeconds: number, maxIters: number): Promise<{ iters: number; seconds: number }> {
  let pending: tf.Tensor | null = null;
  const settle = async () => {
    if (!pending) return;
    await pending.data();
    pending.dispose();
    pending = null;
  };
  const r = await timeIt(async () => {
    const next = run();
    await settle();
    pending = next;
  }, minSeconds, maxIters);
  await settle();
  return r;
}

/** Forward and training-step throughput of one architecture on the current backend. */
export async function benchModel(o: BenchModelOptions): Promise<BenchRecord[]> {
  const built = buildClassifier({ arch: o.arch, mode: 'scratch', imgSize: o.imgSize, numClasses: 2, seed: 1 });
  const model = built.model;
  const flops = forwardFlops(model);
  const x = tf.randomUniform([o.batch, o.imgSize, o.imgSize, 3], 0, 1);
  const opt = createAdam(1e-4);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const out: BenchRecord[] = [];
  const backend = tf.getBackend();
  const warmAndTune = async (run: () => tf.Tensor) => {
    if (!o.tune) return;
    const t = run();
    await t.data();
    t.dispose();
    await o.tune();
  };
  try {
    const predict = () => tf.tidy(() => model.predict(x) as tf.Tensor);
    await warmAndTune(predict);
    const fwd = await timeInFlight(predict, o.minSeconds, o.maxIters);
    const fwdIps = (fwd.iters * o.batch) / fwd.seconds;
    out.push({ backend, model: o.arch, phase: 'forward', imgSize: o.imgSize, batch: o.batch, imagesPerSec: fwdIps, gflopsPerSec: (fwdIps * flops) / 1e9 });
    // The step `pnpm train` takes (fit-loop's trainStep): on wasm, whose heap cannot hold a big
    // batch's backward pass (see memory.ts), the batch is split into micro-batches the same way.
    const microBatch = backend === 'wasm' ? microBatchFor(model, o.batch) : undefined;
    // As `pnpm train` fits: each batch norm fused with the ReLU after it (bn-fix.ts).
    const fused = fuseBatchNormRelu(model);
    const yl = tf.zeros([o.batch, 1]) as tf.Tensor2D;
    const labels = Array.from({ length: o.batch }, () => 0);
    const step = () => {
      const r = trainStep({ model, activation: 'sigmoid', classWeights: null, labelSmoothing: 0, microBatch }, { x, y: yl, labels }, vars, opt, opt);
      r.preds.dispose();
      return r.loss;
    };
    try {
      await warmAndTune(step);
      const timing = await timeInFlight(step, o.minSeconds, o.maxIters);
      const stepIps = (timing.iters * o.batch) / timing.seconds;
      // A training step is about 3x the forward FLOPs (forward + input and weight gradients).
      out.push({ backend, model: o.arch, phase: 'train', imgSize: o.imgSize, batch: o.batch, imagesPerSec: stepIps, gflopsPerSec: (stepIps * 3 * flops) / 1e9, ...(microBatch ? { microBatch } : {}) });
    } finally {
      fused.undo();
      yl.dispose();
    }
  } finally {
    x.dispose();
    opt.dispose();
    model.dispose();
  }
  return out;
}

/** sharp decode + resize of real photos (JPEG 640x480) to the model size. */
export async function benchDecode(dir: string, imgSize: number, minSeconds: number): Promise<BenchRecord> {
  const files = (await fg('**/*.{jpg,jpeg,png}', { cwd: dir, absolute: true, caseSensitiveMatch: false })).sort().slice(0, 64);
  if (!files.length) throw new Error(`no images in ${dir} for the decode benchmark`);
  const buffers = await Promise.all(files.map((f) => fs.readFile(f)));
  let i = 0;
  const r = await timeIt(async () => {
    await decodeImage(buffers[i++ % buffers.length], { size: imgSize, fit: 'cover' });
  }, minSeconds, 10_000);
  return { backend: 'sharp', model: path.basename(dir), phase: 'decode', imgSize, batch: 1, imagesPerSec: r.iters / r.seconds, gflopsPerSec: null };
}

export function formatBench(r: BenchRecord): string {
  const g = r.gflopsPerSec === null ? '' : `  ${r.gflopsPerSec.toFixed(2).padStart(8)} GFLOP/s`;
  const c = r.ceilingShare == null ? '' : ` (${(100 * r.ceilingShare).toFixed(0)}% of SIMD peak)`;
  const m = r.microBatch ? ` in micro-batches of ${r.microBatch}` : '';
  return `${r.backend.padEnd(10)} ${r.model.padEnd(12)} ${r.phase.padEnd(8)} ${r.imgSize}px batch ${String(r.batch).padEnd(3)} ${r.imagesPerSec.toFixed(2).padStart(9)} img/s${g}${c}${m}`;
}

/** The CPU clock in GHz from /proc/cpuinfo ('cpu MHz', the nominal clock a VM reports), or null where there is none. */
export function cpuGHz(): number | null {
  try {
    const m = /^cpu MHz\s*:\s*([\d.]+)/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return m ? Number(m[1]) / 1000 : null;
  } catch {
    return null;
  }
}

/** The CPU vendor from /proc/cpuinfo ('vendor_id'), or null where there is none. */
export function cpuVendor(): string | null {
  try {
    return /^vendor_id\s*:\s*(\S+)/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
}

/**
 * float32 FLOP per cycle per core that wasm SIMD128 code can reach: 4 lanes, and SIMD128 has no
 * fused multiply-add, so a multiply-add is two instructions. AMD Zen issues two vector multiplies
 * and two vector adds per cycle on separate pipes (16 FLOP); Intel cores issue both on the same two
 * ports (8 FLOP). Unknown vendors get 8.
 */
export function wasmSimdFlopPerCycle(vendor: string | null = cpuVendor()): number {
  return vendor === 'AuthenticAMD' ? 16 : 8;
}

/** Peak FLOP rate of wasm SIMD128 code: FLOP per cycle per core × clock × threads. A turbo clock above `ghz` makes the true peak higher. */
export function wasmSimdCeiling(threads: number, ghz: number, flopPerCycle = wasmSimdFlopPerCycle()): number {
  return flopPerCycle * ghz * threads;
}

/** A peer's figures for one model, measured in the same run. */
export interface PeerRecord {
  peer: string;
  device: string;
  model: string;
  imgSize: number;
  batch: number;
  forwardImagesPerSec: number;
  trainImagesPerSec: number;
}

const TORCH_SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bench/torch_reference.py');

/** A Python with PyTorch: PARTS_TORCH_PYTHON, else python3, else the system's /usr/bin/python3 (Debian's python3-torch). */
export function findTorchPython(): { python: string } | { error: string } {
  const candidates = [envSetting('PARTS_TORCH_PYTHON'), 'python3', '/usr/bin/python3'].filter((c): c is string => Boolean(c));
  for (const python of [...new Set(candidates)]) {
    const r = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
    if (r.status === 0) return { python };
  }
  return { error: `no Python with PyTorch found (tried ${[...new Set(candidates)].join(', ')}); install python3-torch (Debian) or set PARTS_TORCH_PYTHON` };
}

/**
 * PyTorch on the CPU (packages/train/bench/torch_reference.py) on the same model, size and batch,
 * `threads` threads: the faster of its two memory formats for each phase.
 */
/**
 * PyTorch's CPU speed on a shared machine moves a lot with OpenMP's wait policy and glibc's allocator
 * trimming: the peer is measured with its defaults and with these, and the better figure is kept.
 */
export const TORCH_TUNED_ENV: Readonly<Record<string, string>> = { OMP_WAIT_POLICY: 'PASSIVE', MALLOC_MMAP_THRESHOLD_: '268435456', MALLOC_TRIM_THRESHOLD_: '1073741824' };

export function benchTorchCpu(o: { arch: string; imgSize: number; batch: number; threads: number; minSeconds: number; python: string; env?: Record<string, string> }): PeerRecord {
  const args = [TORCH_SCRIPT, '--device', 'cpu', '--arch', o.arch, '--img-size', String(o.imgSize), '--batch', String(o.batch),
    '--threads', String(o.threads), '--iters', '3', '--seconds', String(o.minSeconds), '--json', '-'];
  const r = spawnSync(o.python, args, { encoding: 'utf8', maxBuffer: 16 << 20, env: { ...processEnv(), ...o.env } });
  if (r.status !== 0) throw new Error(`torch_reference.py failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
  const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { device: string; best: { forwardImagesPerSec: number; trainImagesPerSec: number } };
  return { peer: 'torch', device: `PyTorch ${res.device}`, model: o.arch, imgSize: o.imgSize, batch: o.batch, ...res.best };
}

/** Our figure, the peer's and the ratio, one line per phase. */
export function formatPeer(ours: BenchRecord[], peer: PeerRecord): string[] {
  return (['forward', 'train'] as const).flatMap((phase) => {
    const r = ours.find((o) => o.phase === phase);
    if (!r) return [];
    const theirs = phase === 'forward' ? peer.forwardImagesPerSec : peer.trainImagesPerSec;
    return [`vs ${peer.peer.padEnd(7)} ${r.model.padEnd(12)} ${phase.padEnd(8)} ${r.imgSize}px batch ${String(r.batch).padEnd(3)} ours (${r.backend}) ${r.imagesPerSec.toFixed(2)} img/s, ${peer.device} ${theirs.toFixed(2)} img/s: ratio ${(r.imagesPerSec / theirs).toFixed(3)}x`];
  });
}

/** Logical CPUs this process may use (the peer's default thread count). */
export function machineThreads(): number {
  return os.availableParallelism?.() ?? os.cpus().length;
}
