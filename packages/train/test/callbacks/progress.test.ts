// The progress callback: start, one tick per batch with the running figures, the finished record.
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import { fitLoop } from '../../src/fit-loop';
import type { EpochProgress } from '../../src/progress';
import { tinyBatch, tinyModel } from './fixtures';

beforeAll(async () => {
  await initBackend('cpu', () => {});
});

describe('progressCallback', () => {
  it('in fitLoop: start per epoch, a tick per batch, and each record with whether it is the best so far', async () => {
    const calls: string[] = [];
    const ticks: { loss: number; acc: number }[] = [];
    const ends: { epoch: number; loss: number; improved: boolean }[] = [];
    const progress: EpochProgress = {
      start: (epoch, epochs, batches) => calls.push(`start ${epoch}/${epochs} ${batches}`),
      tick: (m) => {
        calls.push('tick');
        ticks.push(m);
      },
      end: (rec, improved) => {
        calls.push(`end ${rec.epoch}`);
        ends.push({ epoch: rec.epoch, loss: rec.valLoss!, improved });
      },
    };
    const model = tinyModel();
    const h = await fitLoop({
      model, epochs: 3, lr: 0.05, activation: 'softmax', classWeights: null, labelSmoothing: 0, patience: 0,
      batchesPerEpoch: 2, trainBatches: () => [tinyBatch(), tinyBatch()], valBatches: () => [tinyBatch()], progress,
    });
    model.dispose();
    expect(calls).toEqual(['start 1/3 2', 'tick', 'tick', 'end 1', 'start 2/3 2', 'tick', 'tick', 'end 2', 'start 3/3 2', 'tick', 'tick', 'end 3']);
    // The figures of the batches read so far: never more than the epoch's, '-' (NaN) only before the first.
    for (const t of ticks) {
      if (Number.isNaN(t.loss)) expect(t.acc).toBeNaN();
      else expect(t.acc).toBeGreaterThanOrEqual(0);
    }
    expect(ends.map((e) => e.epoch)).toEqual([1, 2, 3]);
    expect(ends.map((e) => e.loss)).toEqual(h.epochs.map((e) => e.valLoss));
    // An epoch is marked when its validation loss is the lowest so far; the last marked is the best.
    let best = Infinity;
    for (const e of ends) {
      expect(e.improved).toBe(e.loss < best - 1e-6);
      if (e.improved) best = e.loss;
    }
    expect(ends.filter((e) => e.improved).pop()!.epoch).toBe(h.bestEpoch);
  });
});
