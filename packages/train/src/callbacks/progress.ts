// Shows the loop's progress through an EpochProgress (../progress.ts: a bar per epoch on a
// terminal, one summary line per epoch): start at each epoch, a tick per batch with the running
// figures, the finished record (and whether it is the best so far) at the epoch's end.
import type { EpochProgress } from '../progress';
import type { FitCallback } from './callback';

export function progressCallback(progress: EpochProgress): FitCallback {
  return {
    onEpochBegin(s) {
      progress.start(s.epoch, s.epochs, s.batchesPerEpoch);
    },
    onBatchEnd(s) {
      progress.tick(s.running);
    },
    onEpochEnd(_s, rec, improved) {
      progress.end(rec, improved);
    },
  };
}
