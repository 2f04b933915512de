// Per-kernel profile of one model's training step on the wasm backend (tf.profile): time per
// kernel name summed over the step, its share of the step, and how many calls; plus the step's
// wall time and the part of it no kernel accounts for (JS overhead: tape, tidy, allocation).
// Usage: tsx packages/train/bench/wasm-profile.ts [--arch partsnet] [--img-size 128] [--batch 16] [--iters 3] [--forward]
import * as tf from '@tensorflow/tfjs-core';
import { createAdam, initBackend } from '@parts/backend';
import { buildClassifier } from '@parts/models';
import { weightedCrossEntropy } from '../src/loss';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
}
const arch = arg('arch', 'partsnet');
const imgSize = Number(arg('img-size', '128'));
const batch = Number(arg('batch', '16'));
const iters = Number(arg('iters', '3'));
const forwardOnly = process.argv.includes('--forward');

await initBackend((arg('backend', 'wasm')) as never);
const { model } = buildClassifier({ arch, mode: 'scratch', imgSize, numClasses: 2, seed: 1 });
const x = tf.randomUniform([batch, imgSize, imgSize, 3], 0, 1);
const y = tf.zeros([batch, 1]) as tf.Tensor2D;
const opt = createAdam(1e-4);
const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
const step = () => {
  if (forwardOnly) return tf.tidy(() => model.predict(x) as tf.Tensor);
  return opt.minimize(() => weightedCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor, null, 'sigmoid'), true, vars)!;
};
for (let i = 0; i < 2; i++) { const t = step(); await t.data(); t.dispose(); }

const byKernel = new Map<string, { ms: number; calls: number }>();
let wall = 0;
for (let i = 0; i < iters; i++) {
  const t0 = performance.now();
  const info = await tf.profile(async () => { const t = step(); await t.data(); t.dispose(); });
  wall += performance.now() - t0;
  for (const k of info.kernels) {
    const e = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += Number(k.kernelTimeMs);
    e.calls++;
    byKernel.set(k.name, e);
  }
}
// Unprofiled wall time (tf.profile adds its own bookkeeping).
const t0 = performance.now();
for (let i = 0; i < iters; i++) { const t = step(); await t.data(); t.dispose(); }
const plain = (performance.now() - t0) / iters;
const rows = [...byKernel.entries()].map(([name, e]) => ({ name, ms: e.ms / iters, calls: e.calls / iters })).sort((a, b) => b.ms - a.ms);
const kernelMs = rows.reduce((s, r) => s + r.ms, 0);
console.log(`${arch} ${imgSize}px batch ${batch} ${forwardOnly ? 'forward' : 'training step'} on ${tf.getBackend()}: ${plain.toFixed(1)} ms/step unprofiled (${(batch * 1000 / plain).toFixed(1)} img/s), ${(wall / iters).toFixed(1)} ms profiled, kernels ${kernelMs.toFixed(1)} ms`);
for (const r of rows) console.log(`${r.name.padEnd(28)} ${r.ms.toFixed(2).padStart(9)} ms ${((100 * r.ms) / plain).toFixed(1).padStart(5)}%  ${String(r.calls).padStart(4)} calls`);
console.log(`${'(outside kernels)'.padEnd(28)} ${(plain - kernelMs).toFixed(2).padStart(9)} ms ${((100 * (plain - kernelMs)) / plain).toFixed(1).padStart(5)}%`);
