// The learning-rate schedule callback sets each epoch's rate at its start; the rates themselves
// (scheduledLr) are tested in recipe.test.ts.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@parts/backend';
import { lrScheduleCallback, scheduledLr } from '../../src/callbacks/lr-schedule';
import { fitLoop } from '../../src/fit-loop';
import { testState, tinyBatch, tinyModel, weightsOf } from './fixtures';

beforeAll(async () => {
  await initBackend('cpu', () => {});
});

describe('lrScheduleCallback', () => {
  // The schedule never touches the model.
  const model = {} as tfl.LayersModel;

  it('sets the scheduled rate of each epoch at its start', () => {
    const cb = lrScheduleCallback(0.01, 'cosine', 2);
    const s = testState(model, { epochs: 6 });
    for (let e = 1; e <= 6; e++) {
      s.epoch = e;
      cb.onEpochBegin!(s);
    }
    expect(s.lrs).toEqual([1, 2, 3, 4, 5, 6].map((e) => scheduledLr(0.01, e, 6, 'cosine', 2)));
    expect(s.lrs[1]).toBeGreaterThan(s.lrs[0]); // warm-up
    expect(s.lrs[5]).toBeCloseTo(0.0001, 12);
  });

  it('constant: the same rate every epoch', () => {
    const cb = lrScheduleCallback(0.3, 'constant', 0);
    const s = testState(model);
    for (let e = 1; e <= 3; e++) {
      s.epoch = e;
      cb.onEpochBegin!(s);
    }
    expect(s.lrs).toEqual([0.3, 0.3, 0.3]);
  });

  it('in fitLoop, a later callback that sets the rate wins: rate 0 leaves head and base weights as they were', async () => {
    const m = tinyModel();
    const before = weightsOf(m);
    const base = new Set([(m.layers[0].trainableWeights[0].read() as tf.Variable).name]);
    const h = await fitLoop({
      model: m, epochs: 2, lr: 0.1, activation: 'softmax', classWeights: null, labelSmoothing: 0, patience: 0,
      baseVariableNames: base, lrSchedule: 'cosine', batchesPerEpoch: 1, trainBatches: () => [tinyBatch()],
      callbacks: [{ onEpochBegin: (s) => s.setLearningRate(0) }],
    });
    expect(h.epochs.map((e) => e.lr)).toEqual([0, 0]);
    expect(weightsOf(m)).toEqual(before);
    m.dispose();
  });
});
