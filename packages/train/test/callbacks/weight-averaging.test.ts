// Weight averaging: the mean of the weights at the end of the epochs from `fromEpoch` on.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@parts/backend';
import { weightAveragingCallback } from '../../src/callbacks/weight-averaging';
import { fitLoop } from '../../src/fit-loop';
import { epochRecord as rec, setAllWeights as setAll, testState, tinyBatch, tinyModel, weightsOf } from './fixtures';

beforeAll(async () => {
  await initBackend('cpu', () => {});
});

describe('weightAveragingCallback', () => {
  it('averages the weights of the epochs from fromEpoch on, leaves the model alone, and releases its sums', () => {
    const model = tinyModel();
    const s = testState(model);
    const count = tf.memory().numTensors;
    const cb = weightAveragingCallback(3);
    for (const [epoch, v] of [[1, 100], [2, 100], [3, 1], [4, 2], [5, 6]]) {
      setAll(model, v);
      cb.onEpochEnd!(s, rec(epoch), false);
    }
    expect(cb.epochs).toEqual([3, 4, 5]);
    expect(weightsOf(model).flat().every((x) => x === 6)).toBe(true); // the model keeps its own weights
    const mean = cb.mean()!;
    expect(mean.map((t) => t.shape)).toEqual(model.getWeights().map((w) => w.shape));
    expect(mean.flatMap((t) => Array.from(t.dataSync())).every((x) => Math.abs(x - 3) < 1e-6)).toBe(true);
    tf.dispose(mean);
    cb.dispose!();
    expect(tf.memory().numTensors).toBe(count);
    model.dispose();
  });

  it('has no mean before fromEpoch, and rejects a fromEpoch below 1', () => {
    const model = tinyModel();
    const cb = weightAveragingCallback(4);
    cb.onEpochEnd!(testState(model), rec(3), true);
    expect(cb.mean()).toBeNull();
    expect(cb.epochs).toEqual([]);
    cb.dispose!();
    expect(() => weightAveragingCallback(0)).toThrow(/fromEpoch must be an integer >= 1/);
    model.dispose();
  });

  it('in fitLoop, collects the last epochs after the best-weights copy, whatever epoch was best', async () => {
    const model = tinyModel();
    const cb = weightAveragingCallback(2);
    const snapshots: number[][][] = [];
    await fitLoop({
      model,
      epochs: 3,
      lr: 0.1,
      activation: 'softmax',
      classWeights: null,
      labelSmoothing: 0,
      patience: 0,
      batchesPerEpoch: 1,
      trainBatches: () => [tinyBatch()],
      callbacks: [cb, { onEpochEnd: (s) => void snapshots.push(weightsOf(s.model)) }],
    });
    expect(cb.epochs).toEqual([2, 3]);
    // fitLoop disposed the callback on return: the mean taken at the end of training is handed over once.
    const mean = cb.mean()!;
    expect(cb.mean()).toBeNull();
    const expected = snapshots[1].map((w, i) => w.map((x, j) => (x + snapshots[2][i][j]) / 2));
    mean.forEach((t, i) => Array.from(t.dataSync()).forEach((x, j) => expect(x).toBeCloseTo(expected[i][j], 5)));
    tf.dispose(mean);
    model.dispose();
  });
});
