// Best-weights restore: the weights of the last improved epoch come back at the end of training.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@parts/backend';
import { bestWeightsCallback } from '../../src/callbacks/best-weights';
import { fitLoop } from '../../src/fit-loop';
import { epochRecord as rec, setAllWeights as setAll, testState, tinyBatch, tinyModel, weightsOf } from './fixtures';

beforeAll(async () => {
  await initBackend('cpu', () => {});
});

describe('bestWeightsCallback', () => {
  it('keeps a copy at each improved epoch and restores the last one; dispose releases it', () => {
    const model = tinyModel();
    const s = testState(model);
    const cb = bestWeightsCallback();
    const count = tf.memory().numTensors;
    setAll(model, 1);
    const one = weightsOf(model);
    cb.onEpochEnd!(s, rec(1), true);
    setAll(model, 2);
    const two = weightsOf(model);
    cb.onEpochEnd!(s, rec(2), true); // replaces the copy (the old one is released)
    setAll(model, 3);
    cb.onEpochEnd!(s, rec(3), false);
    expect(weightsOf(model)).not.toEqual(two);
    cb.onTrainEnd!(s);
    expect(weightsOf(model)).toEqual(two);
    expect(weightsOf(model)).not.toEqual(one);
    cb.dispose!();
    expect(tf.memory().numTensors).toBe(count);
    model.dispose();
  });

  it('without an improved epoch leaves the model as it is', () => {
    const model = tinyModel();
    const s = testState(model);
    const cb = bestWeightsCallback();
    const w = weightsOf(model);
    cb.onEpochEnd!(s, rec(1), false);
    cb.onTrainEnd!(s);
    expect(weightsOf(model)).toEqual(w);
    cb.dispose!();
    model.dispose();
  });

  it('in fitLoop, the model ends with the weights of its best epoch, not its last', async () => {
    const model = tinyModel();
    const flipped = () => {
      const b = tinyBatch();
      const y = tf.sub(1, b.y) as tf.Tensor2D;
      b.y.dispose();
      return { ...b, y, labels: b.labels.map((l) => 1 - l) };
    };
    const atEnd: number[][][] = [];
    const h = await fitLoop({
      model, epochs: 4, lr: 0.5, activation: 'softmax', classWeights: null, labelSmoothing: 0, patience: 0, batchesPerEpoch: 1,
      // Epochs 3 and 4 learn the opposite labels: the validation loss rises.
      trainBatches: (epoch) => [epoch <= 2 ? tinyBatch() : flipped()],
      valBatches: () => [tinyBatch()],
      callbacks: [{ onEpochEnd: (s) => void atEnd.push(weightsOf(s.model)) }],
    });
    expect(h.epochs).toHaveLength(4);
    expect(h.bestEpoch).toBeLessThanOrEqual(2);
    expect(h.epochs[3].valLoss).toBeGreaterThan(h.epochs[h.bestEpoch - 1].valLoss!);
    expect(weightsOf(model)).toEqual(atEnd[h.bestEpoch - 1]);
    expect(weightsOf(model)).not.toEqual(atEnd[3]);
    model.dispose();
  });
});
