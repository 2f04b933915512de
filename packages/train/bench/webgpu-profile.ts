// Where does a Tiny VGG training step spend its time on the current backend? Per-kernel GPU time
// (tf.profile; on WebGPU each kernel is timed with timestamp queries) aggregated by kernel name,
// plus wall-clock step and forward times. Usage: tsx webgpu-profile.ts [imgSize] [batch] [--json FILE]
import { writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { initForBench } from './init-backend';
import { makeTrainStep, tinyVgg } from './tinyvgg';

const args = process.argv.slice(2);
const jsonAt = args.indexOf('--json');
const jsonFile = jsonAt >= 0 ? args.splice(jsonAt, 2)[1] : null;
const imgSize = Number(args[0] ?? 256);
const batch = Number(args[1] ?? 32);
const backend = process.env.PARTS_BENCH_BACKEND ?? 'webgpu';

const info = await initForBench(backend);
console.log(`profile: ${info} tinyvgg ${imgSize}px batch ${batch} kernels=${process.env.PARTS_WEBGPU_KERNELS ?? 'all'} tiles=${process.env.PARTS_CONV_TILES ?? 'default'}`);
const model = tinyVgg(imgSize);
const x = tf.randomUniform([batch, imgSize, imgSize, 3]);
const y = tf.cast(tf.greater(tf.randomUniform([batch, 1]), 0.5), 'float32');
const { step } = makeTrainStep(model);

async function timeSteps(n: number, fn: () => tf.Tensor): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const l = fn();
    await l.data();
    l.dispose();
  }
  return (performance.now() - t0) / n;
}
// Warm-up compiles every pipeline.
await timeSteps(2, () => step(x, y));
await timeSteps(2, () => tf.tidy(() => model.predict(x) as tf.Tensor));
const n = Number(process.env.PARTS_PROFILE_ITERS ?? 5);
const stepMs = await timeSteps(n, () => step(x, y));
const fwdMs = await timeSteps(n, () => tf.tidy(() => model.predict(x) as tf.Tensor));
console.log(`wall: train step ${stepMs.toFixed(1)} ms (${((batch * 1000) / stepMs).toFixed(1)} img/s), forward ${fwdMs.toFixed(1)} ms (${((batch * 1000) / fwdMs).toFixed(1)} img/s)`);

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
if (jsonFile) {
  writeFileSync(jsonFile, JSON.stringify({ info, imgSize, batch, stepMs, fwdMs, kernelTotalMs: total,
    kernels: prof.kernels.map((k) => ({ name: k.name, ms: k.kernelTimeMs, inputShapes: k.inputShapes, outputShapes: k.outputShapes })) }, null, 1));
}
