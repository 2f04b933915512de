// A saved classifier = a tfjs layers model + classifier.json, which records everything needed to
// feed it exactly as in training (input size, fit policy, preprocessing, labels). Training, predict,
// evaluate and serve all go through these functions so they cannot preprocess differently.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { RawImage } from '@parts/data';
import type { ClassifierMeta, Prediction } from './types';
import { loadLayersModel, saveLayersModel } from './model-files';
import { preprocessInput } from './preprocess';

export const CLASSIFIER_JSON = 'classifier.json';

export interface Classifier {
  model: tfl.LayersModel;
  meta: ClassifierMeta;
  /** The folder the model was loaded from. */
  dir: string;
}

export async function saveClassifier(model: tfl.LayersModel, meta: ClassifierMeta, dir: string): Promise<void> {
  validateMeta(meta, dir);
  await saveLayersModel(model, dir, { [CLASSIFIER_JSON]: JSON.stringify(meta, null, 2) });
}

/** Finds the model folder: `dir` itself, or `dir/model` for a run folder. */
export async function resolveModelDir(dir: string): Promise<string> {
  for (const candidate of [dir, path.join(dir, 'model')]) {
    try {
      await fs.access(path.join(candidate, CLASSIFIER_JSON));
      return candidate;
    } catch {
      /* try the next */
    }
  }
  throw new Error(`no classifier in ${dir}: expected ${CLASSIFIER_JSON} there or in ${path.join(dir, 'model')}`);
}

export async function readClassifierMeta(dir: string): Promise<ClassifierMeta> {
  const modelDir = await resolveModelDir(dir);
  const file = path.join(modelDir, CLASSIFIER_JSON);
  let meta: ClassifierMeta;
  try {
    meta = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  validateMeta(meta, file);
  return meta;
}

export async function loadClassifier(dir: string): Promise<Classifier> {
  const modelDir = await resolveModelDir(dir);
  const meta = await readClassifierMeta(modelDir);
  const model = await loadLayersModel(modelDir);
  const outUnits = (model.outputs[0].shape as number[]).at(-1);
  const expected = meta.outputActivation === 'sigmoid' ? 1 : meta.labels.length;
  if (outUnits !== expected) {
    model.dispose();
    throw new Error(`${modelDir}: model has ${outUnits} outputs but classifier.json expects ${expected} (${meta.outputActivation}, ${meta.labels.length} labels)`);
  }
  return { model, meta, dir: modelDir };
}

export function disposeClassifier(c: Classifier): void {
  c.model.dispose();
}

/** Stacks decoded images (already at meta.imgSize) into a preprocessed float batch. */
export function imagesToBatch(images: RawImage[], meta: Pick<ClassifierMeta, 'imgSize' | 'preprocess'>): tf.Tensor4D {
  const s = meta.imgSize;
  const buf = new Float32Array(images.length * s * s * 3);
  images.forEach((img, i) => {
    if (img.width !== s || img.height !== s || img.data.length !== s * s * 3) {
      throw new Error(`image ${i} is ${img.width}x${img.height}, the model takes ${s}x${s} RGB`);
    }
    buf.set(img.data, i * s * s * 3);
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

function validateMeta(meta: ClassifierMeta, where: string): void {
  const problems: string[] = [];
  if (meta?.format !== 'parts-classifier/1') problems.push(`format must be 'parts-classifier/1' (got ${JSON.stringify(meta?.format)})`);
  if (!Array.isArray(meta?.labels) || meta.labels.length < 2) problems.push('labels must list at least 2 classes');
  if (!Number.isInteger(meta?.imgSize) || meta.imgSize < 8) problems.push(`imgSize must be an integer >= 8 (got ${meta?.imgSize})`);
  if (meta?.fit !== 'cover' && meta?.fit !== 'contain') problems.push(`fit must be 'cover' or 'contain' (got ${JSON.stringify(meta?.fit)})`);
  if (!['rescale01', 'caffe', 'tf', 'none'].includes(meta?.preprocess)) problems.push(`preprocess is unknown: ${JSON.stringify(meta?.preprocess)}`);
  if (meta?.outputActivation !== 'sigmoid' && meta?.outputActivation !== 'softmax') problems.push('outputActivation must be sigmoid or softmax');
  if (meta?.outputActivation === 'sigmoid' && meta.labels?.length !== 2) problems.push('a sigmoid output needs exactly 2 labels');
  if (problems.length) throw new Error(`invalid classifier metadata (${where}): ${problems.join('; ')}`);
}
