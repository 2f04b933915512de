// Where does a training step spend its time on the current backend? Per-kernel GPU time
// (tf.profile; on WebGPU each kernel is timed with timestamp queries) aggregated by kernel name,
// plus wall-clock step and forward times, and (WebGPU) the programs each kernel dispatched with
// their thread counts: a program with few threads over a big tensor is a serial loop on the GPU.
// Usage: tsx webgpu-profile.ts [imgSize] [batch] [--arch tinyvgg|resnet50|...] [--json FILE]
import { writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { buildClassifier } from '@parts/models';
import { weightedCrossEntropy } from '../src/loss';
import { createAdam, initBackend, tuneWebGPUKernels, usedKernels, type BackendName } from '@parts/backend';
import { makeTrainStep, tinyVgg } from './tinyvgg';
import { envSetting } from '@parts/cli';

const args = process.argv.slice(2);
const take = (flag: string): string | null => {
  const at = args.indexOf(flag);
  return at >= 0 ? args.splice(at, 2)[1] : null;
};
const jsonFile = take('--json');
const arch = take('--arch') ?? 'tinyvgg';
const imgSize = Number(args[0] ?? 256);
const batch = Number(args[1] ?? 32);
const backend = envSetting('PARTS_BENCH_BACKEND')!;

// initBackend registers this project's WebGPU kernels, as training does.
const info = (await initBackend(backend as BackendName, () => {})).device;
console.log(`profile: ${info} ${arch} ${imgSize}px batch ${batch} kernels=${envSetting('PARTS_WEBGPU_KERNELS')} core=${envSetting('PARTS_CONV_CORE') ?? 'default'} tiles=${envSetting('PARTS_CONV_TILES') ?? 'default'}${envSetting('PARTS_DAWN_FLAGS') ? ` dawn=${envSetting('PARTS_DAWN_FLAGS')}` : ''}`);

/** Tiny VGG is the bench's own copy (same as torch_reference.py); other archs come from the zoo, from scratch. */
function modelAndStep(): { model: tfl.LayersModel; step: (x: tf.Tensor, y: tf.Tensor) => tf.Scalar } {
  if (arch === 'tinyvgg') {
    const m = tinyVgg(imgSize);
    return { model: m, step: makeTrainStep(m).step };
  }
  const m = buildClassifier({ arch, mode: 'scratch', imgSize, numClasses: 2, seed: 1 }).model;
  const opt = createAdam(1e-4);
  const vars = m.trainableWeights.map((w) => w.read() as tf.Variable);
  return {
    model: m,
    step: (x, y) => opt.minimize(() => weightedCrossEntropy(y as tf.Tensor2D, m.apply(x, { training: true }) as tf.Tensor, null, 'sigmoid'), true, vars) as tf.Scalar,
  };
}
const { model, step } = modelAndStep();
const x = tf.randomUniform([batch, imgSize, imgSize, 3]);
const y = tf.cast(tf.greater(tf.randomUniform([batch, 1]), 0.5), 'float32');

/**
 * Milliseconds per call: awaiting each result before the next call (sync), keeping one call in
 * flight (pipelined: GPU throughput, as PyTorch's CUDA-event timing measures it), and the
 * JavaScript time spent recording one call (kernel bookkeeping + Dawn calls, no GPU wait).
 */
async function timeSteps(n: number, fn: () => tf.Tensor): Promise<{ syncMs: number; pipelinedMs: number; recordMs: number }> {
  let t0 = performance.now();
  let recordMs = 0;
  for (let i = 0; i < n; i++) {
    const r0 = performance.now();
    const l = fn();
    recordMs += performance.now() - r0;
    await l.data();
    l.dispose();
  }
  const syncMs = (performance.now() - t0) / n;
  t0 = performance.now();
  let pending: tf.Tensor | null = null;
  for (let i = 0; i < n; i++) {
    const l = fn();
    if (pending) {
      await pending.data();
      pending.dispose();
    }
    pending = l;
  }
  await pending!.data();
  pending!.dispose();
  return { syncMs, pipelinedMs: (performance.now() - t0) / n, recordMs: recordMs / n };
}
// Warm-up compiles every pipeline.
await timeSteps(1, () => step(x, y));
await timeSteps(1, () => tf.tidy(() => model.predict(x) as tf.Tensor));
// With autotuning on (a hardware adapter, unless PARTS_WEBGPU_AUTOTUNE=0), the shapes just met get
// their fastest kernel variants first; then warm up again to compile those.
const tuned = backend === 'webgpu' ? await tuneWebGPUKernels({ log: (l) => console.log(l) }) : [];
if (tuned.length) {
  await timeSteps(1, () => step(x, y));
  await timeSteps(1, () => tf.tidy(() => model.predict(x) as tf.Tensor));
}
const n = envSetting('PARTS_PROFILE_ITERS')!;
const st = await timeSteps(n, () => step(x, y));
const fw = await timeSteps(n, () => tf.tidy(() => model.predict(x) as tf.Tensor));
const ips = (ms: number) => ((batch * 1000) / ms).toFixed(1);
const stepMs = st.pipelinedMs;
const fwdMs = fw.pipelinedMs;
console.log(`wall: train step ${stepMs.toFixed(1)} ms (${ips(stepMs)} img/s), forward ${fwdMs.toFixed(1)} ms (${ips(fwdMs)} img/s) [one call in flight]`);
console.log(`wall: awaiting each: train step ${st.syncMs.toFixed(1)} ms (${ips(st.syncMs)} img/s), forward ${fw.syncMs.toFixed(1)} ms (${ips(fw.syncMs)} img/s); JS recording: step ${st.recordMs.toFixed(1)} ms, forward ${fw.recordMs.toFixed(1)} ms`);

// Programs dispatched by one step (WebGPU): name, threads launched, output size.
interface Dispatch { program: string; threads: number; outSize: number; inSize: number }
const dispatches: Dispatch[] = [];
const gpuBackend = tf.backend() as unknown as { runWebGPUProgram?: (...a: unknown[]) => unknown };
const origRun = gpuBackend.runWebGPUProgram;
if (origRun) {
  gpuBackend.runWebGPUProgram = function (this: unknown, ...a: unknown[]) {
    const out = origRun.apply(this, a);
    const p = a[0] as { constructor: { name: string }; shaderKey?: string; dispatch: number[]; workgroupSize: number[]; outputShape: number[] };
    const threads = p.dispatch.reduce((m, v) => m * v, 1) * p.workgroupSize.reduce((m, v) => m * v, 1);
    const size = (shape: number[]) => shape.reduce((m, v) => m * v, 1);
    const inSize = Math.max(0, ...(a[1] as { shape: number[] }[]).map((t) => size(t.shape)));
    dispatches.push({ program: p.constructor.name, threads, outSize: size(p.outputShape), inSize });
    return out;
  };
}
const prof = await tf.profile(async () => {
  const l = step(x, y);
  await l.data();
  l.dispose();
});
const byName = new Map<string, { ms: number; n: number; shapes: Set<string> }>();
let total = 0;
for (const k of prof.kernels) {
  const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
  total += ms;
  const e = byName.get(k.name) ?? { ms: 0, n: 0, shapes: new Set<string>() };
  e.ms += ms;
  e.n++;
  e.shapes.add(k.inputShapes.map((s) => `[${s}]`).join('x'));
  byName.set(k.name, e);
}
const rows = [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms);
console.log(`kernel GPU time in one profiled step: ${total.toFixed(1)} ms over ${prof.kernels.length} kernels`);
for (const [name, e] of rows.slice(0, 16)) {
  console.log(`  ${name.padEnd(28)} ${e.ms.toFixed(2).padStart(9)} ms  ${String(e.n).padStart(3)}x  ${[...e.shapes].slice(0, 3).join(' | ')}`);
}
if (origRun) {
  gpuBackend.runWebGPUProgram = origRun;
  // Fewest threads first: those programs loop serially over most of their work.
  // Input elements per thread: high values are programs that loop serially (slow on a GPU).
  const byProgram = new Map<string, { n: number; minThreads: number; maxOut: number; perThread: number; worst: string }>();
  for (const d of dispatches) {
    const e = byProgram.get(d.program) ?? { n: 0, minThreads: Infinity, maxOut: 0, perThread: 0, worst: '' };
    e.n++;
    e.minThreads = Math.min(e.minThreads, d.threads);
    e.maxOut = Math.max(e.maxOut, d.outSize);
    if (d.inSize / d.threads > e.perThread) {
      e.perThread = d.inSize / d.threads;
      e.worst = `${d.inSize} in over ${d.threads} threads`;
    }
    byProgram.set(d.program, e);
  }
  console.log(`programs dispatched in one step: ${dispatches.length}`);
  for (const [name, e] of [...byProgram.entries()].sort((a, b) => b[1].perThread - a[1].perThread)) {
    console.log(`  program ${name.padEnd(28)} ${String(e.n).padStart(4)}x  input/thread ${e.perThread.toFixed(0).padStart(7)} (${e.worst})  min threads ${e.minThreads}`);
  }
}
// The variant each GEMM shape ran with (default, measured, cached, or set through the environment).
for (const u of usedKernels()) console.log(`  gemm ${u.key}: ${u.variant} (${u.source}${u.ms !== undefined ? ` ${u.ms.toFixed(3)} ms, default ${u.defaultMs?.toFixed(3)} ms` : ''})`);
if (jsonFile) {
  writeFileSync(jsonFile, JSON.stringify({ info, arch, imgSize, batch, stepMs, fwdMs, step: st, forward: fw, kernelTotalMs: total, tuned, used: usedKernels(),
    kernels: prof.kernels.map((k) => ({ name: k.name, ms: k.kernelTimeMs, inputShapes: k.inputShapes, outputShapes: k.outputShapes })) }, null, 1));
}
