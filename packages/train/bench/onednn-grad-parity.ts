// PartsNet's training step on three sets of kernels from the same weights and batch: the cpu
// backend (plain JavaScript, the reference), the wasm kernels, and the wasm backend with the oneDNN
// kernels. Prints, per variable, the largest gradient difference to cpu relative to the variable's
// largest gradient, then the losses of a few Adam steps on the same batch (wasm and oneDNN): a kernel that is wrong
// (not merely rounded differently) shows up as an oneDNN column far above the wasm one.
// Usage: PARTS_ONEDNN=1 tsx packages/train/bench/onednn-grad-parity.ts [--img-size 128] [--batch 16] [--steps 5]
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, onednnKernelsState, startOnednnKernels, stopOnednnKernels, wasmThreadsInUse } from '@parts/backend';
import { getArch } from '@parts/models';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
}
const size = Number(arg('img-size', '128'));
const batch = Number(arg('batch', '16'));
const steps = Number(arg('steps', '5'));
const classes = 4;

/** Deterministic values in [0, 1) (LCG). */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32;
  }
  return out;
}

await initBackend('wasm', () => {});
if (!onednnKernelsState().active) throw new Error(`the oneDNN kernels are not active: ${onednnKernelsState().detail}`);
const xs = values(batch * size * size * 3, 7);
const labels = Array.from({ length: batch }, (_, i) => i % classes);

interface Result { grads: Map<string, Float32Array>; losses: number[] }

async function runOn(kernels: 'cpu' | 'wasm' | 'onednn', init: tf.Tensor[] | undefined, adamSteps: number): Promise<{ result: Result; weights: Float32Array[]; shapes: number[][] }> {
  await tf.setBackend(kernels === 'cpu' ? 'cpu' : 'wasm');
  if (kernels === 'wasm') stopOnednnKernels();
  if (kernels === 'onednn') startOnednnKernels(wasmThreadsInUse());
  const model = getArch('partsnet').buildModel!({ imgSize: size, numClasses: classes, seed: 1, dropout: 0 } as never);
  if (init) model.setWeights(init);
  const weights = await Promise.all(model.getWeights().map((w) => w.data() as Promise<Float32Array>));
  const shapes = model.getWeights().map((w) => w.shape);
  const x = tf.tensor4d(xs, [batch, size, size, 3]);
  const y = tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), classes), 'float32');
  const loss = () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar;
  const { grads } = tf.variableGrads(loss, model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val));
  const out = new Map<string, Float32Array>();
  for (const [k, g] of Object.entries(grads)) out.set(k.replace(/_\d+$/, ''), (await g.data()) as Float32Array);
  tf.dispose(Object.values(grads));
  const opt = tf.train.adam(2e-3);
  const losses: number[] = [];
  for (let i = 0; i < adamSteps; i++) {
    const l = opt.minimize(loss, true)!;
    losses.push((await l.data())[0]!);
    l.dispose();
  }
  opt.dispose();
  tf.dispose([x, y]);
  model.dispose();
  return { result: { grads: out, losses }, weights, shapes };
}

// The cpu backend gives the reference gradients only: its Adam steps would take minutes.
const cpu = await runOn('cpu', undefined, 0);
const init = cpu.weights.map((w, i) => tf.tensor(w, cpu.shapes[i]));
const wasm = await runOn('wasm', init, steps);
const onednn = await runOn('onednn', init, steps);
const rel = (a: Float32Array, b: Float32Array) => {
  let d = 0, m = 1e-30;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
};
console.log(`PartsNet ${size} px, batch ${batch}: gradient differences to cpu (max |diff| / max |cpu grad|)`);
console.log(['variable', 'wasm', 'onednn', 'onednn-wasm'].join('\t'));
const keys = [...cpu.result.grads.keys()];
const onednnKeys = [...onednn.result.grads.keys()], wasmKeys = [...wasm.result.grads.keys()];
keys.forEach((k, i) => {
  const c = cpu.result.grads.get(k)!, w = wasm.result.grads.get(wasmKeys[i]!)!, o = onednn.result.grads.get(onednnKeys[i]!)!;
  console.log([k, rel(w, c).toExponential(1), rel(o, c).toExponential(1), rel(o, w).toExponential(1)].join('\t'));
});
console.log(`losses of ${steps} Adam steps on the batch`);
for (const [n, r] of [['wasm', wasm], ['onednn', onednn]] as const) console.log(n, r.result.losses.map((l) => l.toFixed(6)).join(' '));
