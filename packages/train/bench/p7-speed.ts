import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@parts/backend';
import { buildClassifier } from '@parts/models';
import { weightedCrossEntropy } from '../src/loss';
await initBackend('wasm', () => {});
for (const size of (process.argv[2] ?? '128,160').split(',').map(Number)) {
  const m = buildClassifier({ arch: process.argv[3] ?? 'partsnet', mode: 'scratch', imgSize: size, numClasses: 8, seed: 1 }).model;
  const opt = tf.train.adam(1e-3);
  const x = tf.randomUniform([16, size, size, 3]);
  const y = tf.cast(tf.oneHot(tf.tensor1d([0,1,2,3,4,5,6,7,0,1,2,3,4,5,6,7], 'int32'), 8), 'float32') as tf.Tensor2D;
  const vars = m.trainableWeights.map((w) => w.read() as tf.Variable);
  const step = () => { const { value, grads } = tf.variableGrads(() => weightedCrossEntropy(y, m.apply(x, { training: true }) as tf.Tensor, null, 'softmax'), vars); opt.applyGradients(grads); tf.dispose([value, ...Object.values(grads)]); };
  step();
  const t0 = Date.now(); for (let i = 0; i < 3; i++) step(); await tf.ready();
  const ms = (Date.now() - t0) / 3;
  console.log(`size ${size}: params ${m.countParams()} train step b16 ${ms.toFixed(0)} ms = ${(16000 / ms).toFixed(1)} img/s`);
}
