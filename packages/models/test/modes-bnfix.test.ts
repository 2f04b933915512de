// The BatchNormalization fix: scale=false trains (tfjs 4.22's own layer crashes), frozen BN and
// useMovingStatistics keep inference mode, the weight layout and the saved class name are unchanged.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@parts/backend';
import { BatchNormalization, batchNormalization } from '../src/bn-fix';
import { buildInceptionV3Base } from '../src/archs/inceptionv3';

beforeAll(async () => {
  await initBackend('cpu', () => {});
});

/** input [2,2,3] -> BN -> flatten -> dense(1); small enough to train instantly on cpu. */
function tinyBnModel(bn: tfl.layers.Layer): tfl.LayersModel {
  const input = tfl.input({ shape: [2, 2, 3] });
  let x = bn.apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.flatten().apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 1, kernelInitializer: 'ones' }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

const X = () => tf.tensor4d(Array.from({ length: 4 * 12 }, (_, i) => ((i * 37) % 23) / 7), [4, 2, 2, 3]);
const Y = () => tf.tensor2d([[1], [0], [2], [1]]);

describe('BatchNormalization with scale=false', () => {
  it("crashes in tfjs 4.22's own layer (the trap this module works around)", async () => {
    const model = tinyBnModel(tfl.layers.batchNormalization({ scale: false }));
    model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    await expect(model.fit(X(), Y(), { epochs: 1, verbose: 0 })).rejects.toThrow(/reading 'read'/);
  });

  it('trains with the fixed layer, keeps the weight layout, and normalises with batch statistics', async () => {
    const bn = batchNormalization({ scale: false, momentum: 0.9, epsilon: 1e-3 });
    const model = tinyBnModel(bn);
    expect(bn.weights.map((w) => w.originalName.split('/').pop())).toEqual(['beta', 'moving_mean', 'moving_variance']);
    expect(model.countParams()).toBe(3 * 3 + 12 + 1);

    const x = X();
    // Training-mode output equals (x - batch mean) / sqrt(batch var + eps) + beta, per channel.
    const out = bn.apply(x, { training: true }) as tf.Tensor;
    const xs = x.arraySync() as number[][][][];
    const expected = tf.tidy(() => {
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      return tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-3)));
    });
    expect(Array.from(out.dataSync()).map((v) => +v.toFixed(4))).toEqual(Array.from(expected.dataSync()).map((v) => +v.toFixed(4)));
    // ...and that call moved the moving mean by (1 - momentum) toward the batch mean.
    const batchMean = [0, 1, 2].map((c) => xs.flat(2).reduce((s, px) => s + px[c]!, 0) / 16);
    const movingMean = Array.from(bn.getWeights()[1]!.dataSync());
    movingMean.forEach((m, c) => expect(m).toBeCloseTo(0.1 * batchMean[c]!, 5));

    model.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
    const betaBefore = Array.from(bn.getWeights()[0]!.dataSync());
    const h = await model.fit(x, Y(), { epochs: 2, batchSize: 4, verbose: 0 });
    expect(h.history.loss!.every((l) => Number.isFinite(l as number))).toBe(true);
    expect(Array.from(bn.getWeights()[0]!.dataSync())).not.toEqual(betaBefore);
    tf.dispose([x, out, expected]);
  });

  it('also handles a channel axis that is not the last one', () => {
    const bn = batchNormalization({ axis: 1, scale: false, center: false });
    const x = tf.tensor4d(Array.from({ length: 2 * 3 * 2 * 2 }, (_, i) => i * i * 0.1), [2, 3, 2, 2]);
    const out = bn.apply(x, { training: true }) as tf.Tensor;
    const expected = tf.tidy(() => {
      const { mean, variance } = tf.moments(x, [0, 2, 3], true);
      return tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-3)));
    });
    const a = out.dataSync();
    const e = expected.dataSync();
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(e[i]!, 4);
    expect(bn.weights.length).toBe(2); // moving_mean, moving_variance only
    tf.dispose([x, out, expected]);
  });
});

describe('inference mode in training', () => {
  it('a frozen layer, or one with useMovingStatistics, uses and keeps its moving statistics', async () => {
    for (const setup of ['frozen', 'movingStats'] as const) {
      const bn = batchNormalization({ scale: false });
      const model = tinyBnModel(bn);
      const [beta, movingMean, movingVariance] = bn.weights;
      // Non-trivial moving statistics, so inference and training normalisation differ.
      bn.setWeights([tf.tensor1d([0.5, 0, -0.5]), tf.tensor1d([1, 2, 3]), tf.tensor1d([4, 5, 6])]);
      if (setup === 'frozen') bn.trainable = false;
      else bn.useMovingStatistics = true;
      const x = X();
      const train = bn.apply(x, { training: true }) as tf.Tensor;
      const infer = bn.apply(x, { training: false }) as tf.Tensor;
      expect(Array.from(train.dataSync())).toEqual(Array.from(infer.dataSync()));

      model.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
      await model.fit(x, Y(), { epochs: 1, batchSize: 4, verbose: 0 });
      expect(Array.from(movingMean!.read().dataSync())).toEqual([1, 2, 3]);
      expect(Array.from(movingVariance!.read().dataSync())).toEqual([4, 5, 6]);
      // gamma/beta still train when the layer itself is trainable (Keras training=False semantics).
      const betaAfter = Array.from(beta!.read().dataSync());
      if (setup === 'frozen') expect(betaAfter).toEqual([0.5, 0, -0.5]);
      else expect(betaAfter).not.toEqual([0.5, 0, -0.5]);
      tf.dispose([x, train, infer]);
    }
  });
});

describe('serialisation', () => {
  it('saves as a standard BatchNormalization and loads back as the fixed class', () => {
    const model = tinyBnModel(batchNormalization({ scale: false, epsilon: 1.001e-5 }));
    const json = model.toJSON(null, false) as { config: { layers: Array<{ class_name: string; config: Record<string, unknown> }> } };
    const bnJson = json.config.layers.find((l) => l.class_name === 'BatchNormalization')!;
    expect(bnJson.config).toMatchObject({ scale: false, epsilon: 1.001e-5 });
    return tfl.models.modelFromJSON({ modelTopology: json } as never).then((loaded) => {
      const bn = loaded.layers.find((l) => l.getClassName() === 'BatchNormalization')!;
      expect(bn).toBeInstanceOf(BatchNormalization);
      expect(bn.weights.length).toBe(3);
    });
  });
});

describe('InceptionV3 (scale=false BN everywhere)', () => {
  it('takes a training step with its top layers in training mode (batch statistics)', async () => {
    const base = buildInceptionV3Base({ imgSize: 75, seed: 1 });
    // Train the last 17 layers with BN in training mode: the path that crashes in plain tfjs.
    base.layers.forEach((l, i) => (l.trainable = i >= base.layers.length - 17));
    const pooled = tfl.layers.globalAveragePooling2d({}).apply(base.outputs[0]!) as tfl.SymbolicTensor;
    const out = tfl.layers.dense({ units: 1, activation: 'sigmoid' }).apply(pooled) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: base.inputs, outputs: out });
    model.compile({ optimizer: tf.train.sgd(0.01), loss: 'binaryCrossentropy' });
    const bn = base.getLayer('batch_normalization_94') as BatchNormalization;
    expect(bn.getConfig()).toMatchObject({ scale: false });
    const before = Array.from(bn.getWeights()[1]!.dataSync());
    const x = tf.randomUniform([2, 75, 75, 3], -1, 1, 'float32', 4);
    const y = tf.tensor2d([[0], [1]]);
    const loss = (await model.trainOnBatch(x, y)) as number;
    expect(Number.isFinite(loss)).toBe(true);
    expect(Array.from(bn.getWeights()[1]!.dataSync())).not.toEqual(before); // moving mean updated
    tf.dispose([x, y]);
    model.dispose();
  });
});
