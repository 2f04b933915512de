// The evaluation record and the pure step from scored images to metrics (no tfjs, no file I/O),
// so it can be tested and reused without a model.
import path from 'node:path';
import type { SplitName } from '@parts/data';
import { readJson } from './fsutil';
import { argmax, computeMetrics } from './metrics';
import type { ClassificationMetrics } from './metrics';

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

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

export async function readEvaluation(runDir: string): Promise<Evaluation> {
  const e = await readJson<Evaluation>(path.join(runDir, EVALUATION_JSON));
  if (e.format !== EVALUATION_FORMAT) throw new Error(`${path.join(runDir, EVALUATION_JSON)}: unknown format ${JSON.stringify(e.format)}`);
  return e;
}
