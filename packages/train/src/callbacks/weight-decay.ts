// Decoupled (AdamW-style) weight decay: after each optimiser step, conv/dense kernels shrink by
// (1 - lr * rate), lr being the epoch's learning rate. Biases and batch-norm parameters are left
// alone, as in AdamW practice; the decay is not part of the loss, so Adam's moments never see it.
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { FitCallback } from './callback';

/** Trainable conv/dense kernels (not biases, not batch-norm parameters). */
export function decayedVariables(model: tfl.LayersModel): tf.Variable[] {
  return model.trainableWeights.filter((w) => /kernel(_\d+)?$/.test(w.name)).map((w) => w.read() as tf.Variable);
}

export function weightDecayCallback(rate: number): FitCallback {
  let vars: tf.Variable[] = [];
  return {
    onTrainBegin(s) {
      vars = decayedVariables(s.model);
    },
    onStepEnd(s) {
      const keep = 1 - s.lr * rate;
      tf.tidy(() => {
        for (const v of vars) v.assign(tf.mul(v, keep));
      });
    },
  };
}
