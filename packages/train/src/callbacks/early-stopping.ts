// Early stopping: ends training once the monitored loss has not improved for `patience` epochs in
// a row. Together with best-weights.ts the model then goes back to its best epoch.
import type { FitCallback } from './callback';

export function earlyStoppingCallback(patience: number): FitCallback {
  if (!(patience > 0)) throw new Error(`early stopping: patience must be > 0 epochs (got ${patience})`);
  let sinceBest = 0;
  return {
    onTrainBegin() {
      sinceBest = 0;
    },
    onEpochEnd(s, _rec, improved) {
      sinceBest = improved ? 0 : sinceBest + 1;
      if (sinceBest >= patience) s.stopTraining = true;
    },
  };
}
