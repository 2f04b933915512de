import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@parts/backend';
import { fitLoop, type Batch } from '../src/fit-loop';
import { activationFloatsPerImage, microBatchFor } from '../src/memory';

beforeAll(async () => {
  await initBackend('wasm', () => {});
});

function tinyNet(): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [12, 12, 3], filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
}

async function oneStep(microBatch: number | undefined): Promise<{ weights: Float32Array[]; loss: number }> {
  const model = tinyNet();
  const x = tf.randomUniform([6, 12, 12, 3], 0, 1, 'float32', 5);
  const labels = [0, 1, 1, 0, 1, 0];
  const history = await fitLoop({
    model,
    epochs: 1,
    lr: 0.01,
    activation: 'sigmoid',
    classWeights: [1, 2],
    labelSmoothing: 0,
    patience: 0,
    microBatch,
    batchesPerEpoch: 1,
    trainBatches: function* (): Generator<Batch> {
      yield { x: tf.clone(x), y: tf.tensor2d(labels, [6, 1]), labels };
    },
  });
  const weights = await Promise.all(model.getWeights().map((w) => w.data() as Promise<Float32Array>));
  x.dispose();
  model.dispose();
  return { weights, loss: history.epochs[0].loss };
}

describe('micro-batching', () => {
  it('takes the same step as the whole batch (summed micro-batch gradients, class weights included)', async () => {
    const before = tf.memory().numTensors;
    const whole = await oneStep(undefined);
    const split = await oneStep(4); // chunks of 4 and 2: unequal parts must be weighted by size
    expect(split.loss).toBeCloseTo(whole.loss, 5);
    whole.weights.forEach((w, i) => {
      for (let j = 0; j < w.length; j++) expect(split.weights[i][j]).toBeCloseTo(w[j], 5);
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('sizes micro-batches from the activations a model keeps per image', () => {
    const model = tinyNet();
    // conv 10x10x4 + pool 5x5x4 + flatten 100 + dense 1
    expect(activationFloatsPerImage(model)).toBe(400 + 100 + 100 + 1);
    const perImage = 601 * 16;
    expect(microBatchFor(model, 16, perImage * 100)).toBeUndefined();
    expect(microBatchFor(model, 16, perImage * 5)).toBe(5);
    expect(microBatchFor(model, 16, 1)).toBe(1);
    model.dispose();
  });
});
