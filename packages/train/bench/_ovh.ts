import * as tf from '@tensorflow/tfjs-core';
import { buildClassifier } from '@parts/models';
import { weightedCrossEntropy } from '/work/main/packages/train/src/loss';
import { initForBench } from '/work/main/packages/train/bench/init-backend';
const arch = process.argv[2] ?? 'resnet50';
const be = process.argv[3] ?? 'webgpu';
const img = Number(process.argv[4] ?? 32);
console.log(await initForBench(be));
const m = buildClassifier({ arch, mode: 'scratch', imgSize: img, numClasses: 2, seed: 1 }).model;
const opt = tf.train.adam(1e-4);
const vars = m.trainableWeights.map((w) => w.read() as tf.Variable);
const x = tf.randomUniform([1, img, img, 3]); const y = tf.zeros([1, 1]) as tf.Tensor2D;
const step = () => opt.minimize(() => weightedCrossEntropy(y, m.apply(x, { training: true }) as tf.Tensor, null, 'sigmoid'), true, vars)!;
for (let i = 0; i < 4; i++) {
  const t0 = performance.now();
  const l = step();
  const t1 = performance.now();
  await l.data();
  const t2 = performance.now();
  l.dispose();
  console.log(`step record ${(t1 - t0).toFixed(0)} ms, wait ${(t2 - t1).toFixed(0)} ms, tensors ${tf.memory().numTensors}`);
}
