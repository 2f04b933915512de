// The mean of the weights at the end of the last epochs (stochastic weight averaging, Izmailov et
// al. 2018, over the tail of the cosine schedule). On a few hundred photos the validation split
// that picks the "best epoch" holds a few dozen photos, and the validation figures of neighbouring
// epochs swing by tens of points (batch statistics of 16 augmented photos): the epoch it picks is
// partly chance. The mean of the last epochs' weights lies in the middle of the region they visit
// and needs no choosing. It only collects the mean: the caller puts it into the model (after the
// best-weights restore has run) and then recomputes the batch-norm statistics (bn-recalibrate.ts),
// which the mean of the moving statistics does not give.
import * as tf from '@tensorflow/tfjs-core';
import type { FitCallback } from './callback';

export interface WeightAveraging extends FitCallback {
  /** The epochs in the mean so far (ascending). */
  readonly epochs: number[];
  /**
   * The mean weights (model.getWeights() order), or null when no epoch was averaged; the caller owns
   * and disposes them. After training the mean taken at its end is handed over (once): the fit loop
   * disposes its callbacks when it returns, which releases the running sums but not that mean.
   */
  mean(): tf.Tensor[] | null;
}

/** Averages model.getWeights() at the end of every epoch from `fromEpoch` (1-based) on. */
export function weightAveragingCallback(fromEpoch: number): WeightAveraging {
  if (!Number.isInteger(fromEpoch) || fromEpoch < 1) throw new RangeError(`weight averaging: fromEpoch must be an integer >= 1 (got ${fromEpoch})`);
  let sum: tf.Tensor[] | null = null;
  let atEnd: tf.Tensor[] | null = null;
  const epochs: number[] = [];
  const meanOfSums = () => (sum ? sum.map((t) => tf.keep(tf.tidy(() => tf.div(t, epochs.length)))) : null);
  return {
    epochs,
    onEpochEnd(s, rec) {
      if (rec.epoch < fromEpoch) return;
      const w = s.model.getWeights();
      if (!sum) sum = w.map((t) => tf.keep(tf.cast(t, 'float32')));
      else {
        const prev: tf.Tensor[] = sum;
        sum = prev.map((t, i) => tf.keep(tf.tidy(() => tf.add(t, tf.cast(w[i], 'float32')))));
        prev.forEach((t) => t.dispose());
      }
      epochs.push(rec.epoch);
    },
    onTrainEnd() {
      tf.dispose(atEnd ?? []);
      atEnd = meanOfSums();
    },
    mean() {
      if (atEnd) {
        const m = atEnd;
        atEnd = null;
        return m;
      }
      return meanOfSums();
    },
    dispose() {
      sum?.forEach((t) => t.dispose());
      sum = null;
    },
  };
}
