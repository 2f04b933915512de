import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@parts/backend';
import { buildClassifier } from '@parts/models';
import { weightedCrossEntropy } from '../src/loss';
await initBackend('wasm', () => {});
const size = Number(process.argv[2] ?? 128);
const m = buildClassifier({ arch: 'partsnet', mode: 'scratch', imgSize: size, numClasses: 8, seed: 1 }).model;
const x = tf.randomUniform([16, size, size, 3]);
const y = tf.cast(tf.oneHot(tf.tensor1d([0,1,2,3,4,5,6,7,0,1,2,3,4,5,6,7], 'int32'), 8), 'float32') as tf.Tensor2D;
const vars = m.trainableWeights.map((w) => w.read() as tf.Variable);
const step = () => { const { value, grads } = tf.variableGrads(() => weightedCrossEntropy(y, m.apply(x, { training: true }) as tf.Tensor, null, 'softmax'), vars); tf.dispose([value, ...Object.values(grads)]); };
step();
const prof = await tf.profile(() => { step(); });
const agg = new Map<string, { ms: number; n: number }>();
for (const k of prof.kernels) { const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0; const key = k.name + ' ' + JSON.stringify(k.inputShapes?.[0]); const a = agg.get(key) ?? { ms: 0, n: 0 }; a.ms += ms; a.n++; agg.set(key, a); }
const rows = [...agg.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25);
let tot = 0; for (const [, v] of agg) tot += v.ms;
console.log('total', tot.toFixed(0));
for (const [k, v] of rows) console.log(v.ms.toFixed(0).padStart(6), v.n, k);
