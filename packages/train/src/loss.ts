import * as tf from '@tensorflow/tfjs-core';

const EPS = 1e-7;

/**
 * Mean cross-entropy with per-sample weights (class weighting) and label smoothing, as Keras
 * computes it with class_weight: sum(w_i * loss_i) / n.
 */
export function weightedCrossEntropy(
  yTrue: tf.Tensor2D,
  yPred: tf.Tensor,
  sampleWeights: tf.Tensor1D | null,
  activation: 'sigmoid' | 'softmax',
  labelSmoothing = 0,
): tf.Scalar {
  return tf.tidy(() => {
    const n = yTrue.shape[0];
    const p = tf.clipByValue(yPred, EPS, 1 - EPS);
    let perSample: tf.Tensor1D;
    if (activation === 'sigmoid') {
      const t = labelSmoothing ? tf.add(tf.mul(yTrue, 1 - labelSmoothing), 0.5 * labelSmoothing) : yTrue;
      const ll = tf.add(tf.mul(t, tf.log(p)), tf.mul(tf.sub(1, t), tf.log(tf.sub(1, p))));
      perSample = tf.reshape(tf.neg(ll), [n]);
    } else {
      const k = yTrue.shape[1];
      const t = labelSmoothing ? tf.add(tf.mul(yTrue, 1 - labelSmoothing), labelSmoothing / k) : yTrue;
      perSample = tf.neg(tf.sum(tf.mul(t, tf.log(p)), 1)) as tf.Tensor1D;
    }
    const weighted = sampleWeights ? tf.mul(perSample, sampleWeights) : perSample;
    return tf.div(tf.sum(weighted), n) as tf.Scalar;
  });
}

/** Balanced class weights n / (k * n_c), like scikit-learn's 'balanced'. */
export function balancedClassWeights(labels: number[], numClasses: number): number[] {
  const counts = new Array(numClasses).fill(0);
  for (const l of labels) counts[l]++;
  return counts.map((c) => (c === 0 ? 0 : labels.length / (numClasses * c)));
}

/** Predicted class per row of probabilities [n, units] (1 unit = sigmoid). */
export function argmaxRows(probs: Float32Array | Int32Array | Uint8Array, n: number): number[] {
  const units = probs.length / n;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    if (units === 1) {
      out.push(probs[i] >= 0.5 ? 1 : 0);
      continue;
    }
    let best = 0;
    for (let j = 1; j < units; j++) if (probs[i * units + j] > probs[i * units + best]) best = j;
    out.push(best);
  }
  return out;
}
