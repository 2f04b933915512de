// fuseBatchNormRelu: each batch norm followed only by a ReLU activation applies the ReLU itself (in
// its training kernels on wasm) and the activation passes its input on. Outputs, gradients and the
// moving statistics must be those of the unfused model, and undo() must give the layers back as they were.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@parts/backend';
import { BatchNormalization, batchNormalization, fuseBatchNormRelu } from '../src/bn-fix';
import { buildPartsNet } from '../src/archs/partsnet';

/** Input size: the cpu backend's kernels are slow, so it gets PartsNet's smallest. */
let SIZE = 32;

function partsnet(): tfl.LayersModel {
  // No dropout: its mask is drawn anew on every call.
  return buildPartsNet({ imgSize: SIZE, numClasses: 3, seed: 7, dropout: 0 });
}

const input = () => tf.randomUniform([3, SIZE, SIZE, 3], 0, 1, 'float32', 11);

/** Σ(out·w) of the training-mode output, and its gradients for every trainable weight (sorted by name). */
function trainingStep(model: tfl.LayersModel): tf.Tensor[] {
  const x = input();
  const w = tf.randomUniform([3, 3], -1, 1, 'float32', 12);
  const f = () => tf.sum(tf.mul(model.apply(x, { training: true }) as tf.Tensor, w)) as tf.Scalar;
  const { value, grads } = tf.variableGrads(f, model.trainableWeights.map((v) => v.read() as tf.Variable));
  return [value, ...Object.keys(grads).sort().map((n) => grads[n]!)];
}

/** A training step's loss and gradients, then the inference output and the moving statistics the step updated. */
function run(model: tfl.LayersModel): Float32Array[] {
  return tf.tidy(() => {
    const step = trainingStep(model);
    const moving = model.layers.filter((l) => l instanceof BatchNormalization).flatMap((l) => l.getWeights().slice(-2));
    const out = [...step, model.predict(input()) as tf.Tensor, ...moving];
    return out.map((t) => t.dataSync() as Float32Array);
  });
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`fuseBatchNormRelu on ${backend}`, () => {
    it('gives the unfused model\'s outputs, gradients and moving statistics, and undo() restores the layers', async () => {
      await initBackend(backend, () => {});
      SIZE = backend === 'cpu' ? 16 : 32;
      const plain = partsnet();
      const fused = partsnet();
      const config = JSON.stringify(fused.toJSON(null, false));
      const f = fuseBatchNormRelu(fused);
      // PartsNet's seven conv-BN-ReLU blocks.
      expect(f.pairs).toBe(7);
      const bns = fused.layers.filter((l): l is BatchNormalization => l instanceof BatchNormalization);
      expect(bns.every((l) => l.fusedRelu)).toBe(true);
      // Nothing that is saved changes.
      expect(JSON.stringify(fused.toJSON(null, false))).toBe(config);

      // The activation layers really pass their input on: a fused training step runs no ReLU kernel
      // of its own (on wasm its gradient is inside the batch norm's kernels too).
      const kernels = async (m: tfl.LayersModel) =>
        new Set(
          (
            await tf.profile(() => {
              tf.dispose(tf.tidy(() => trainingStep(m)));
            })
          ).kernelNames,
        );
      const plainKernels = await kernels(plain);
      const fusedKernels = await kernels(fused);
      expect(plainKernels.has('Relu')).toBe(true);
      expect(fusedKernels.has('Relu')).toBe(backend !== 'wasm');
      if (backend === 'wasm') expect([...fusedKernels].filter((k) => /Relu/.test(k))).toEqual([]);

      const want = run(plain);
      const got = run(fused);
      expect(got.length).toBe(want.length);
      // The gradients of every weight, the BN's included, and the moving statistics the step updated:
      // bit for bit (the same float operations in another order of passes), so seeded runs do not move.
      for (let i = 0; i < want.length; i++) expect(maxDiff(got[i]!, want[i]!), `output ${i}`).toBe(0);
      // A fused layer's own output is after the ReLU: the model cut at a batch norm would differ.
      const cut = (m: tfl.LayersModel) =>
        tf.tidy(() => tf.min(tfl.model({ inputs: m.inputs, outputs: m.getLayer('block1_bn').output }).predict(tf.randomUniform([2, SIZE, SIZE, 3], 0, 1, 'float32', 13)) as tf.Tensor).dataSync()[0]!);
      expect(cut(fused)).toBe(0);
      expect(cut(plain)).toBeLessThan(0);

      f.undo();
      expect(bns.some((l) => l.fusedRelu)).toBe(false);
      expect(fused.layers.filter((l) => Object.prototype.hasOwnProperty.call(l, 'call'))).toEqual([]);
      expect(cut(fused)).toBeLessThan(0);
      const again = run(fused);
      const twice = run(plain);
      for (let i = 0; i < twice.length; i++) expect(maxDiff(again[i]!, twice[i]!), `output ${i} after undo`).toBe(0);
      plain.dispose();
      fused.dispose();
    });
  });
}

describe('fuseBatchNormRelu leaves alone', () => {
  it('a batch norm whose output also goes elsewhere, one followed by another activation, and one that is an output', async () => {
    await initBackend('cpu', () => {});
    const input = tfl.input({ shape: [4, 4, 2] });
    const a = batchNormalization({ name: 'shared_bn' }).apply(input) as tfl.SymbolicTensor;
    const r1 = tfl.layers.activation({ activation: 'relu' }).apply(a) as tfl.SymbolicTensor;
    const r2 = tfl.layers.activation({ activation: 'relu' }).apply(a) as tfl.SymbolicTensor;
    const b = batchNormalization({ name: 'sigmoid_bn' }).apply(tfl.layers.add().apply([r1, r2]) as tfl.SymbolicTensor) as tfl.SymbolicTensor;
    const s = tfl.layers.activation({ activation: 'sigmoid' }).apply(b) as tfl.SymbolicTensor;
    const c = batchNormalization({ name: 'out_bn' }).apply(s) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: c });
    const f = fuseBatchNormRelu(model);
    expect(f.pairs).toBe(0);
    expect(model.layers.filter((l) => l instanceof BatchNormalization && l.fusedRelu)).toEqual([]);
    model.dispose();
  });
});
