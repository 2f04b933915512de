// Decoded images held in memory for the whole run: a few hundred photos at model size fit
// easily, and decoding once keeps sharp out of the epoch loop.
import * as tf from '@tensorflow/tfjs-core';
import { augment, decodeImage, mapLimit, normaliseLight, type AugmentOptions, type FitPolicy, type RawImage, type Sample } from '@parts/data';
import type { LightNormName } from '@parts/cli';
import { imagesToBatch, type PreprocessSpec } from '@parts/models';

export interface ImageSet {
  images: RawImage[];
  labels: number[];
  files: string[];
}

/**
 * Decodes photos, in the samples' order. A few decodes at a time keep sharp's threads busy (one at a
 * time left the cores idle between files); `onProgress` follows the count.
 */
export async function loadImageSet(samples: Sample[], size: number, fit: FitPolicy, onProgress?: (done: number, total: number) => void): Promise<ImageSet> {
  const images: RawImage[] = await mapLimit(samples, 4, (s) => decodeImage(s.file, { size, fit }), onProgress);
  return { images, labels: samples.map((s) => s.label), files: samples.map((s) => s.file) };
}

/** Fisher–Yates with the run's generator, so the batch order is reproducible. */
export function shuffledIndices(n: number, rng: () => number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx;
}

export interface BatchSpec {
  imgSize: number;
  preprocess: PreprocessSpec;
  /** The model's light normalisation (ClassifierMeta.lightNorm), applied by imagesToBatch. */
  lightNorm?: LightNormName;
  numClasses: number;
  outputActivation: 'sigmoid' | 'softmax';
}

/** Targets: [n,1] 0/1 for sigmoid, one-hot [n,k] for softmax. */
export function labelsToTargets(labels: number[], spec: BatchSpec): tf.Tensor2D {
  if (spec.outputActivation === 'sigmoid') return tf.tensor2d(labels, [labels.length, 1]);
  return tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), spec.numClasses), 'float32') as tf.Tensor2D);
}

export function makeBatch(
  set: ImageSet,
  indices: number[],
  spec: BatchSpec,
  aug?: { rng: () => number; opts: AugmentOptions },
): { x: tf.Tensor4D; y: tf.Tensor2D; labels: number[] } {
  const labels = indices.map((i) => set.labels[i]);
  if (!aug) return { x: imagesToBatch(indices.map((i) => set.images[i]), spec), y: labelsToTargets(labels, spec), labels };
  // Light normalisation first, augmentation after: the network still sees the augmentation's
  // brightness and contrast jitter around the normalised photo (normalising the augmented photo
  // would undo that jitter), and a photo predict normalises lies inside what it trained on.
  const imgs = indices.map((i) => augment(normaliseLight(set.images[i], spec.lightNorm), aug.rng, aug.opts));
  return { x: imagesToBatch(imgs, { ...spec, lightNorm: 'none' }), y: labelsToTargets(labels, spec), labels };
}
