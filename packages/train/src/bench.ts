// `pnpm bench`: throughput of the models' forward pass and training step on each backend,
// and of sharp decode+resize. Prints figures; never pass/fail.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import fg from 'fast-glob';
import { createAdam } from '@parts/backend';
import { decodeImage } from '@parts/data';
import { buildClassifier } from '@parts/models';
import { forwardFlops } from './flops';
import { weightedCrossEntropy } from './loss';
import { microBatchFor } from './memory';

export interface BenchRecord {
  backend: string;
  model: string;
  phase: 'forward' | 'train' | 'decode';
  imgSize: number;
  batch: number;
  imagesPerSec: number;
  gflopsPerSec: number | null;
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
  const y = tf.zeros([o.batch, 1]) as tf.Tensor2D;
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
    // wasm's heap cannot hold a big batch's backward pass (see memory.ts): measure the step on the
    // largest batch that fits, and say which batch that was.
    const trainBatch = backend === 'wasm' ? (microBatchFor(model, o.batch) ?? o.batch) : o.batch;
    const xt = trainBatch === o.batch ? x : tf.slice(x, 0, trainBatch);
    const yt = trainBatch === o.batch ? y : (tf.slice(y, 0, trainBatch) as tf.Tensor2D);
    try {
      const trainStep = () => opt.minimize(() => weightedCrossEntropy(yt, model.apply(xt, { training: true }) as tf.Tensor, null, 'sigmoid'), true, vars)!;
      await warmAndTune(trainStep);
      const step = await timeInFlight(trainStep, o.minSeconds, o.maxIters);
      const stepIps = (step.iters * trainBatch) / step.seconds;
      // A training step is about 3x the forward FLOPs (forward + input and weight gradients).
      out.push({ backend, model: o.arch, phase: 'train', imgSize: o.imgSize, batch: trainBatch, imagesPerSec: stepIps, gflopsPerSec: (stepIps * 3 * flops) / 1e9 });
    } finally {
      if (xt !== x) tf.dispose([xt, yt]);
    }
  } finally {
    tf.dispose([x, y]);
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
  return `${r.backend.padEnd(10)} ${r.model.padEnd(12)} ${r.phase.padEnd(8)} ${r.imgSize}px batch ${String(r.batch).padEnd(3)} ${r.imagesPerSec.toFixed(2).padStart(9)} img/s${g}`;
}
