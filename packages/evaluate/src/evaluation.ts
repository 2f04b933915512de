// Evaluating one run: predictions on a dataset split → metrics → <run>/evaluation.json.
// evaluatePredictions is pure (tests call it without a model); evaluateRun adds model and data I/O.
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { decodeImage, listDataset } from '@parts/data';
import type { SplitName } from '@parts/data';
import { disposeClassifier, loadClassifier, predictProbabilities } from '@parts/models';
import { computeMetrics, argmax } from './metrics';
import type { ClassificationMetrics } from './metrics';
import { dirSize, readJson, writeJsonAtomic } from './fsutil';
import { readRun } from './runs';

export const EVALUATION_JSON = 'evaluation.json';
export const EVALUATION_FORMAT = 'parts-evaluation/1';

export interface ImagePrediction {
  file: string;
  true: string;
  predicted: string;
  correct: boolean;
  probabilities: Record<string, number>;
}

export interface Evaluation extends ClassificationMetrics {
  format: typeof EVALUATION_FORMAT;
  runId: string;
  runDir: string;
  arch: string;
  mode: string;
  split: SplitName;
  /** The evaluated dataset, and the one the run was trained on (fingerprint from config.json). */
  data: { root: string; sameAsTraining: boolean; training: { root?: string; fingerprint?: string } };
  imgSize: number;
  fit: string;
  preprocess: string;
  /** Bytes of the saved model folder (model.json + weights), the last promotion tie-breaker. */
  modelBytes: number;
  /** tfjs backend that computed the predictions. */
  backend: string;
  evaluatedAt: string;
  predictions: ImagePrediction[];
}

export interface LabelledProbabilities {
  file: string;
  /** True class name. */
  trueLabel: string;
  /** One probability per model label, in the model's label order. */
  probabilities: ArrayLike<number>;
}

/** Metrics plus per-image predictions for a list of scored images. */
export function evaluatePredictions(
  labels: string[],
  items: LabelledProbabilities[],
): ClassificationMetrics & { predictions: ImagePrediction[] } {
  if (items.length === 0) throw new Error('nothing to evaluate: the split has no images');
  const index = new Map(labels.map((l, i) => [l, i]));
  const yTrue = items.map((it) => {
    const t = index.get(it.trueLabel);
    if (t === undefined) {
      throw new Error(`${it.file}: class '${it.trueLabel}' is not one of the model's labels (${labels.join(', ')})`);
    }
    return t;
  });
  const probs = items.map((it) => it.probabilities);
  const metrics = computeMetrics(yTrue, probs, labels);
  const predictions = items.map((it, i) => {
    const p = argmax(it.probabilities);
    const probabilities: Record<string, number> = {};
    labels.forEach((l, j) => (probabilities[l] = round6(it.probabilities[j])));
    return { file: it.file, true: labels[yTrue[i]], predicted: labels[p], correct: p === yTrue[i], probabilities };
  });
  return { ...metrics, predictions };
}

export interface EvaluateRunOptions {
  /** Dataset root; default: the root the run was trained on (config.json data.root). */
  data?: string;
  split?: SplitName;
  /** Images decoded and predicted at a time (bounds memory at large input sizes). */
  batchSize?: number;
  log?: (msg: string) => void;
}

/**
 * Evaluates a run folder on a dataset split and writes <runDir>/evaluation.json atomically.
 * Needs an initialised tfjs backend (initBackend from @parts/backend).
 */
export async function evaluateRun(runDir: string, opts: EvaluateRunOptions = {}): Promise<Evaluation> {
  const split = opts.split ?? 'test';
  const batchSize = opts.batchSize ?? 32;
  const run = await readRun(runDir);
  const trainedOn = run.config?.data?.root;
  const dataRoot = opts.data ? path.resolve(opts.data) : trainedOn;
  if (!dataRoot) throw new Error(`${runDir}: no --data given and config.json has no data.root to default to`);

  const classifier = await loadClassifier(runDir);
  try {
    const { meta } = classifier;
    const index = await listDataset(dataRoot);
    const samples = index.splits[split];
    if (!samples || samples.length === 0) throw new Error(`${dataRoot}: the '${split}' split has no images`);
    const items: LabelledProbabilities[] = [];
    for (let start = 0; start < samples.length; start += batchSize) {
      const chunk = samples.slice(start, start + batchSize);
      const images = await Promise.all(chunk.map((s) => decodeImage(s.file, { size: meta.imgSize, fit: meta.fit })));
      const probs = await predictProbabilities(classifier, images);
      chunk.forEach((s, i) => items.push({ file: s.file, trueLabel: index.classes[s.label], probabilities: probs[i] }));
      opts.log?.(`  ${Math.min(start + batchSize, samples.length)}/${samples.length} images`);
    }
    const result = evaluatePredictions(meta.labels, items);
    const evaluation: Evaluation = {
      format: EVALUATION_FORMAT,
      runId: run.runId,
      runDir: path.resolve(runDir),
      arch: meta.arch,
      mode: meta.mode,
      split,
      data: {
        root: dataRoot,
        sameAsTraining: !!trainedOn && path.resolve(trainedOn) === path.resolve(dataRoot),
        training: { root: trainedOn, fingerprint: run.config?.data?.fingerprint },
      },
      imgSize: meta.imgSize,
      fit: meta.fit,
      preprocess: meta.preprocess,
      modelBytes: await dirSize(classifier.dir),
      backend: tf.getBackend(),
      evaluatedAt: new Date().toISOString(),
      ...result,
    };
    await writeJsonAtomic(path.join(runDir, EVALUATION_JSON), evaluation);
    return evaluation;
  } finally {
    disposeClassifier(classifier);
  }
}

export async function readEvaluation(runDir: string): Promise<Evaluation> {
  const e = await readJson<Evaluation>(path.join(runDir, EVALUATION_JSON));
  if (e.format !== EVALUATION_FORMAT) throw new Error(`${path.join(runDir, EVALUATION_JSON)}: unknown format ${JSON.stringify(e.format)}`);
  return e;
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
