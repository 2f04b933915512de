// Feature extraction trains only the head, so the frozen base's output for an image never
// changes unless the image does: compute it once per image (per augmentation pass when the
// images are augmented) and train the head on the stored features.
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Batch } from './fit-loop';
import { labelsToTargets, makeBatch, type BatchSpec, type ImageSet } from './image-set';

/** Base outputs [n, features] for every image of the set, in order. */
export function computeFeatures(base: tfl.LayersModel, set: ImageSet, spec: BatchSpec, batchSize: number): tf.Tensor {
  const parts: tf.Tensor[] = [];
  for (let start = 0; start < set.images.length; start += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, set.images.length - start) }, (_, i) => start + i);
    const b = makeBatch(set, idx, spec);
    parts.push(tf.tidy(() => base.predict(b.x) as tf.Tensor));
    tf.dispose([b.x, b.y]);
  }
  const all = parts.length === 1 ? parts[0] : tf.concat(parts);
  if (parts.length > 1) tf.dispose(parts);
  return all;
}

/** A training batch taken from stored features (the caller's loop disposes it). */
export function featureBatch(features: tf.Tensor, set: ImageSet, idx: number[], spec: BatchSpec): Batch {
  const labels = idx.map((i) => set.labels[i]);
  return { x: tf.tidy(() => tf.gather(features, tf.tensor1d(idx, 'int32'))), y: labelsToTargets(labels, spec), labels };
}
