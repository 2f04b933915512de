// A saved classifier = a tfjs layers model + classifier.json, which records everything needed to
// feed it exactly as in training (input size, fit policy, preprocessing, labels). Training, predict,
// evaluate and serve all go through these functions so they cannot preprocess differently.
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { normaliseLight, type RawImage } from '@parts/data';
import type { ClassifierMeta, Prediction } from './types';
import { loadLayersModel, saveLayersModel } from './model-files';
import { preprocessInput } from './preprocess';
import { CLASSIFIER_JSON, classifierFileText, readClassifierMeta, resolveModelDir } from './classifier-file';

export interface Classifier {
  model: tfl.LayersModel;
  meta: ClassifierMeta;
  /** The folder the model was loaded from. */
  dir: string;
}

export async function saveClassifier(model: tfl.LayersModel, meta: ClassifierMeta, dir: string): Promise<void> {
  await saveLayersModel(model, dir, { [CLASSIFIER_JSON]: classifierFileText(meta, dir) });
}

export async function loadClassifier(dir: string): Promise<Classifier> {
  const modelDir = await resolveModelDir(dir);
  const meta = await readClassifierMeta(modelDir);
  const model = await loadLayersModel(modelDir);
  const outUnits = (model.outputs[0].shape as number[]).at(-1);
  const expected = meta.outputActivation === 'sigmoid' ? 1 : meta.labels.length;
  if (outUnits !== expected) {
    model.dispose();
    throw new Error(`${modelDir}: model has ${outUnits} outputs but ${CLASSIFIER_JSON} expects ${expected} (${meta.outputActivation}, ${meta.labels.length} labels)`);
  }
  return { model, meta, dir: modelDir };
}

export function disposeClassifier(c: Classifier): void {
  c.model.dispose();
}

/**
 * Stacks decoded images (already at meta.imgSize) into a preprocessed float batch: the model's
 * light normalisation (meta.lightNorm, absent = none), then its preprocessing. The one place every
 * tfjs path (training batches, predict, evaluate, serve, the OOD features, Grad-CAM) turns photos
 * into network input; the ONNX engine applies the same normalisation to its uint8 input.
 */
export function imagesToBatch(images: RawImage[], meta: Pick<ClassifierMeta, 'imgSize' | 'preprocess' | 'lightNorm'>): tf.Tensor4D {
  const s = meta.imgSize;
  const buf = new Float32Array(images.length * s * s * 3);
  images.forEach((img, i) => {
    if (img.width !== s || img.height !== s || img.data.length !== s * s * 3) {
      throw new Error(`image ${i} is ${img.width}x${img.height}, the model takes ${s}x${s} RGB`);
    }
    buf.set(normaliseLight(img, meta.lightNorm).data, i * s * s * 3);
  });
  return tf.tidy(() => preprocessInput(tf.tensor4d(buf, [images.length, s, s, 3]), meta.preprocess));
}

/** Turns raw model outputs [n, units] into per-label probabilities (rows sum to 1). */
export function outputsToProbabilities(out: Float32Array, n: number, meta: Pick<ClassifierMeta, 'outputActivation' | 'labels'>): Float32Array[] {
  const k = meta.labels.length;
  const rows: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    if (meta.outputActivation === 'sigmoid') {
      const p = out[i];
      rows.push(Float32Array.from([1 - p, p]));
    } else {
      rows.push(out.slice(i * k, (i + 1) * k));
    }
  }
  return rows;
}

/** Probabilities per image and label. Reads asynchronously (the webgpu backend cannot read synchronously in Node). */
export async function predictProbabilities(c: Classifier, images: RawImage[], batchSize = 16): Promise<Float32Array[]> {
  const rows: Float32Array[] = [];
  for (let start = 0; start < images.length; start += batchSize) {
    const chunk = images.slice(start, start + batchSize);
    const y = tf.tidy(() => c.model.predict(imagesToBatch(chunk, c.meta)) as tf.Tensor);
    try {
      const data = (await y.data()) as Float32Array;
      rows.push(...outputsToProbabilities(data, chunk.length, c.meta));
    } finally {
      y.dispose();
    }
  }
  return rows;
}

export function toPrediction(probs: Float32Array, labels: string[]): Prediction {
  let best = 0;
  for (let j = 1; j < probs.length; j++) if (probs[j] > probs[best]) best = j;
  const probabilities: Record<string, number> = {};
  labels.forEach((l, j) => (probabilities[l] = probs[j]));
  return { label: labels[best], probabilities };
}

export async function classify(c: Classifier, images: RawImage[]): Promise<Prediction[]> {
  const probs = await predictProbabilities(c, images);
  return probs.map((p) => toPrediction(p, c.meta.labels));
}
