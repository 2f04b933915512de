// Keeps a copy of the weights of the best epoch (the loop's monitored loss: validation loss when
// there are validation batches) and puts them back when training ends, so an over-trained or
// early-stopped run leaves its model as it was at its best epoch.
import type * as tf from '@tensorflow/tfjs-core';
import type { FitCallback } from './callback';

export function bestWeightsCallback(): FitCallback {
  let best: tf.Tensor[] | null = null;
  const release = () => {
    best?.forEach((t) => t.dispose());
    best = null;
  };
  return {
    onEpochEnd(s, _rec, improved) {
      if (!improved) return;
      release();
      best = s.model.getWeights().map((w) => w.clone());
    },
    onTrainEnd(s) {
      if (best) s.model.setWeights(best);
    },
    dispose: release,
  };
}
