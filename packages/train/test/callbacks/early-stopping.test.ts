// Early stopping: training ends once the monitored loss has gone `patience` epochs without improving.
import { beforeAll, describe, expect, it } from 'vitest';
import type * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@parts/backend';
import { earlyStoppingCallback } from '../../src/callbacks/early-stopping';
import { fitLoop } from '../../src/fit-loop';
import { epochRecord as rec, testState, tinyBatch, tinyModel } from './fixtures';

beforeAll(async () => {
  await initBackend('cpu', () => {});
});

/** The epoch after which the callback asks to stop, given which epochs improved; 0 = never. */
function stopsAfter(patience: number, improved: boolean[]): number {
  const cb = earlyStoppingCallback(patience);
  const s = testState({} as tfl.LayersModel);
  cb.onTrainBegin!(s);
  for (const [i, imp] of improved.entries()) {
    cb.onEpochEnd!(s, rec(i + 1), imp);
    if (s.stopTraining) return i + 1;
  }
  return 0;
}

describe('earlyStoppingCallback', () => {
  it('stops after `patience` epochs in a row without improvement; an improvement resets the count', () => {
    expect(stopsAfter(2, [true, false, true, false, false, true])).toBe(5);
    expect(stopsAfter(2, [true, false, true, false, true, false])).toBe(0);
    expect(stopsAfter(1, [true, true, false, true])).toBe(3);
    expect(stopsAfter(3, [false, false, false])).toBe(3);
  });

  it('names a patience that is not positive', () => {
    expect(() => earlyStoppingCallback(0)).toThrow(/patience must be > 0 epochs \(got 0\)/);
    expect(() => earlyStoppingCallback(NaN)).toThrow(/patience/);
  });

  // With learning rate 0 the loss never changes: epoch 1 is the only improvement.
  const run = async (epochs: number, patience: number) => {
    const model = tinyModel();
    const h = await fitLoop({
      model, epochs, lr: 0, activation: 'softmax', classWeights: null, labelSmoothing: 0, patience,
      batchesPerEpoch: 1, trainBatches: () => [tinyBatch()],
    });
    model.dispose();
    return h;
  };

  it('in fitLoop, ends training early and says so in the history', async () => {
    const h = await run(6, 2);
    expect(h.epochs.map((e) => e.epoch)).toEqual([1, 2, 3]);
    expect(h).toMatchObject({ bestEpoch: 1, stoppedEarly: true, monitor: 'loss' });
  });

  it('in fitLoop, a stop at the last epoch is not early; patience 0 never stops', async () => {
    expect(await run(3, 2)).toMatchObject({ stoppedEarly: false, bestEpoch: 1 });
    expect((await run(3, 2)).epochs).toHaveLength(3);
    const off = await run(4, 0);
    expect(off.epochs).toHaveLength(4);
    expect(off.stoppedEarly).toBe(false);
  });
});
