// GPU kernel tuning as a callback: after step 1 (its figures read first) and after epoch 1's
// validation, never later, and left out of the epoch's time. The loop-level order of these calls
// among the batches is tested in fit-loop-tune.test.ts.
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@parts/backend';
import { kernelTuningCallback } from '../../src/callbacks/kernel-tuning';
import { fitLoop } from '../../src/fit-loop';
import { testState, tinyBatch, tinyModel } from './fixtures';

beforeAll(async () => {
  await initBackend('cpu', () => {});
});

afterEach(() => {
  vi.useRealTimers();
});

describe('kernelTuningCallback', () => {
  it('tunes after step 1 once its figures are read and after epoch 1 validation, untimed; other events return nothing', async () => {
    const events: string[] = [];
    const s = testState({} as tfl.LayersModel, {
      readFigures: async () => void events.push('read'),
    });
    const cb = kernelTuningCallback(async () => void events.push('tune'));
    s.epoch = 1;
    s.step = 1;
    await cb.onBatchEnd!(s);
    expect(events).toEqual(['read', 'tune']);
    s.step = 2;
    expect(cb.onBatchEnd!(s)).toBeUndefined(); // no promise: the batch loop does not wait
    await cb.onValidateEnd!(s);
    s.epoch = 2;
    s.step = 3;
    expect(cb.onBatchEnd!(s)).toBeUndefined();
    expect(cb.onValidateEnd!(s)).toBeUndefined();
    expect(events).toEqual(['read', 'tune', 'tune']);
    expect(s.untimedCalls).toBe(2);
  });

  it('in fitLoop, the tuning time is not counted in the epoch time', async () => {
    // A clock that only moves when told: 10 s per tuning, 3 ms per batch.
    vi.useFakeTimers({ toFake: ['Date'] });
    const model = tinyModel();
    const h = await fitLoop({
      model, epochs: 2, lr: 0.01, activation: 'softmax', classWeights: null, labelSmoothing: 0, patience: 0,
      batchesPerEpoch: 2, trainBatches: () => [tinyBatch(), tinyBatch()], valBatches: () => [tinyBatch()],
      tuneKernels: async () => vi.advanceTimersByTime(10_000),
      callbacks: [{ onBatchEnd: () => void vi.advanceTimersByTime(3) }],
    });
    model.dispose();
    expect(h.epochs.map((e) => e.timeMs)).toEqual([6, 6]);
  });
});
