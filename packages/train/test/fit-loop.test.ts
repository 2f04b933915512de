// The fit loop as events: the order in which it calls its callbacks, stopping, async hooks,
// failure (callbacks still release what they hold) and tensors that do not grow over epochs.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@parts/backend';
import { fitCallbacks, fitLoop, type FitCallback, type FitLoopOptions } from '../src/fit-loop';
import { tinyBatch, tinyModel } from './callbacks/fixtures';

beforeAll(async () => {
  await initBackend('cpu', () => {});
});

const options = (model: ReturnType<typeof tinyModel>, over: Partial<FitLoopOptions> = {}): FitLoopOptions => ({
  model, epochs: 2, lr: 0.01, activation: 'softmax', classWeights: null, labelSmoothing: 0, patience: 0,
  batchesPerEpoch: 2, trainBatches: () => [tinyBatch(), tinyBatch()], valBatches: () => [tinyBatch()], ...over,
});

function recorder(events: string[]): FitCallback {
  return {
    onTrainBegin: (s) => void events.push(`trainBegin ${s.epoch}`),
    onEpochBegin: (s) => void events.push(`epochBegin ${s.epoch}`),
    onStepEnd: (s) => void events.push(`step ${s.step}`),
    onBatchEnd: (s) => void events.push(`batch ${s.step}`),
    onValidateEnd: (s) => void events.push(`validate ${s.epoch} ${s.history.epochs.length}`),
    onEpochEnd: (s, rec) => void events.push(`epochEnd ${rec.epoch} ${s.history.epochs.length}`),
    onTrainEnd: () => void events.push('trainEnd'),
    dispose: () => void events.push('dispose'),
  };
}

describe('fitLoop events', () => {
  it('calls each event in order, with the state as it stands at that point', async () => {
    const events: string[] = [];
    const model = tinyModel();
    await fitLoop(options(model, { callbacks: [recorder(events)] }));
    model.dispose();
    expect(events).toEqual([
      'trainBegin 0',
      'epochBegin 1', 'step 1', 'batch 1', 'step 2', 'batch 2', 'validate 1 0', 'epochEnd 1 1',
      'epochBegin 2', 'step 3', 'batch 3', 'step 4', 'batch 4', 'validate 2 1', 'epochEnd 2 2',
      'trainEnd', 'dispose',
    ]);
  });

  it('ends after the epoch in which a callback sets stopTraining', async () => {
    const model = tinyModel();
    const h = await fitLoop(options(model, { epochs: 5, callbacks: [{ onEpochEnd: (s) => void (s.stopTraining = s.epoch === 2) }] }));
    model.dispose();
    expect(h.epochs).toHaveLength(2);
    expect(h.stoppedEarly).toBe(true);
  });

  it('awaits a hook that returns a promise before running the next callback', async () => {
    const events: string[] = [];
    const slow: FitCallback = { onEpochEnd: (s) => new Promise((r) => setTimeout(r, 20)).then(() => void events.push(`slow ${s.epoch}`)) };
    const fast: FitCallback = { onEpochEnd: (s) => void events.push(`fast ${s.epoch}`), onEpochBegin: (s) => void events.push(`begin ${s.epoch}`) };
    const model = tinyModel();
    await fitLoop(options(model, { callbacks: [slow, fast] }));
    model.dispose();
    expect(events).toEqual(['begin 1', 'slow 1', 'fast 1', 'begin 2', 'slow 2', 'fast 2']);
  });

  it('when training fails: no onTrainEnd, every callback disposed, no tensor left behind', async () => {
    const events: string[] = [];
    const model = tinyModel();
    const before = tf.memory().numTensors;
    const run = fitLoop(options(model, {
      epochs: 3,
      weightDecay: 0.1,
      trainBatches: function* (epoch) {
        yield tinyBatch();
        if (epoch === 2) throw new Error('unreadable image b.png');
      },
      callbacks: [recorder(events)],
    }));
    await expect(run).rejects.toThrow(/b\.png/);
    expect(events).not.toContain('trainEnd');
    expect(events.slice(-2)).toEqual(['batch 2', 'dispose']);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('holds the same number of tensors at the end of every epoch, and none more after training', async () => {
    const model = tinyModel();
    const before = tf.memory().numTensors;
    const counts: number[] = [];
    const h = await fitLoop(options(model, {
      epochs: 6, lr: 0.05, lrSchedule: 'cosine', warmupEpochs: 1, weightDecay: 0.01, patience: 10, classWeights: [1, 2], labelSmoothing: 0.1,
      progress: { start: () => {}, tick: () => {}, end: () => {} },
      callbacks: [{ onEpochEnd: () => void counts.push(tf.memory().numTensors) }],
    }));
    const after = tf.memory().numTensors;
    model.dispose();
    expect(h.epochs).toHaveLength(6);
    // Whether or not an epoch improved (a new best-weights copy replaces the old one).
    expect(counts).toEqual(Array(6).fill(counts[0]));
    expect(counts[0]).toBeGreaterThan(before); // optimiser moments and the best-weights copy
    expect(after).toBe(before);
  });
});

describe('fitCallbacks', () => {
  it('makes the callbacks the options ask for, in the loop order, then the extra ones', () => {
    const model = tinyModel();
    const extra: FitCallback = {};
    const base = fitCallbacks(options(model));
    const all = fitCallbacks(options(model, { weightDecay: 0.1, tuneKernels: async () => {}, patience: 3, progress: { start() {}, tick() {}, end() {} }, callbacks: [extra] }));
    model.dispose();
    expect(base).toHaveLength(2); // learning-rate schedule (constant) and best weights
    expect(all).toHaveLength(7);
    expect(all[6]).toBe(extra);
  });
});
