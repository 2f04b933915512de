// The evaluation record and the pure step from scored images to metrics (no tfjs, no file I/O),
// so it can be tested and reused without a model.
import path from 'node:path';
import type { SplitName } from '@parts/data';
import { RUN_FILES } from '@parts/train';
import { readJson } from './fsutil';
import { argmax, computeMetrics } from './metrics';
import type { ClassificationMetrics } from './metrics';
import type { GradCamGallery } from './gradcam-gallery';
import type { CalibrationEvaluation, OodEvaluation } from './ood-evaluation';
import type { RobustnessRow } from './robustness';
import type { RobustnessSummary } from './robustness-budget';

/**
 * The run's own evaluation: its test split on the dataset it was trained on. Promotion and the
 * accuracy gate read only this file; evaluations of other splits or datasets go to other files
 * (evaluationFileName) so they can never replace it.
 */
export const EVALUATION_JSON = RUN_FILES.evaluation;
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
  data: {
    root: string;
    sameAsTraining: boolean;
    training: { root?: string; fingerprint?: string };
    /** How the training dataset as listed now differs from what the run recorded (datasetChangesSinceTraining); absent when it does not. */
    changed?: string[];
  };
  imgSize: number;
  fit: string;
  preprocess: string;
  /** Bytes of the saved model folder (model.json + weights), the last promotion tie-breaker. */
  modelBytes: number;
  /** tfjs backend that computed the predictions. */
  backend: string;
  evaluatedAt: string;
  predictions: ImagePrediction[];
  /** OOD figures at the threshold stored in model/ood.json ({status: 'no scorer'} without one). Absent in older files. */
  ood?: OodEvaluation;
  /** ECE on the test photos before/after the stored temperature, with reliability bins. */
  calibration?: CalibrationEvaluation | null;
  /** Accuracy under shifts: baseline (shift 'none', level 0), then shift × level; [] when turned off. */
  robustness?: RobustnessRow[];
  /** Preset, photos shifted, seconds; null when robustness was off. */
  robustnessSummary?: RobustnessSummary | null;
  /** Grad-CAM overlays (files in the run folder); null when turned off or the arch has no layer. */
  gradcam?: GradCamGallery | null;
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

/** True when the evaluation is of the run's test split on the dataset it was trained on. */
export function isOwnTestEvaluation(e: Pick<Evaluation, 'split' | 'data'>): boolean {
  return e.split === 'test' && e.data?.sameAsTraining === true && !e.data.changed?.length;
}

/** The evaluation of the test split of a run's training dataset after its photos changed (data.changed). */
export const CHANGED_TEST_EVALUATION_JSON = 'evaluation-test-changed-since-training.json';

/** Why an evaluation is not the run's own test evaluation, for messages. */
export function describeEvaluationScope(e: Pick<Evaluation, 'split' | 'data'>): string {
  const changed = e.data?.changed?.length ? `, changed since training: ${e.data.changed.join('; ')}` : '';
  return `the '${e.split}' split of ${e.data?.root}${e.data?.sameAsTraining ? ` (its training dataset${changed})` : ' (not its training dataset)'}`;
}

/**
 * Where an evaluation is stored in its run folder: evaluation.json for the run's own test split,
 * evaluation-<split>.json for another split of the training dataset,
 * evaluation-<split>-changed-since-training.json for the training dataset's folder after photos
 * changed there (data.changed; the run's own evaluation.json stays as it was), and
 * evaluation-<split>-<dataset folder name>.json for another dataset.
 */
export function evaluationFileName(split: SplitName, dataRoot: string, sameAsTraining: boolean, changed = false): string {
  if (sameAsTraining && changed) return split === 'test' ? CHANGED_TEST_EVALUATION_JSON : `evaluation-${split}-changed-since-training.json`;
  if (sameAsTraining) return split === 'test' ? EVALUATION_JSON : `evaluation-${split}.json`;
  const name = path.basename(path.resolve(dataRoot)).replace(/[^A-Za-z0-9._-]/g, '_') || 'data';
  return `evaluation-${split}-${name}.json`;
}

/** Reads any evaluation file (checks only its format). */
export async function readEvaluationFile(file: string): Promise<Evaluation> {
  const e = await readJson<Evaluation>(file);
  if (e.format !== EVALUATION_FORMAT) throw new Error(`${file}: unknown format ${JSON.stringify(e.format)}`);
  return e;
}

/**
 * Reads <runDir>/evaluation.json and makes sure it is what that name promises (the run's own test
 * split on its training dataset): promotion and the accuracy gate rely on it.
 */
export async function readEvaluation(runDir: string): Promise<Evaluation> {
  const file = path.join(runDir, EVALUATION_JSON);
  const e = await readEvaluationFile(file);
  if (!isOwnTestEvaluation(e)) {
    throw new Error(
      `${file} is an evaluation of ${describeEvaluationScope(e)}, not of the run's own test split; ` +
        `re-evaluate it with \`pnpm evaluate --run ${runDir}\` (no --split, no --data)`,
    );
  }
  // A later evaluation found the training dataset changed: this one is of photos no longer there.
  const changedFile = path.join(runDir, CHANGED_TEST_EVALUATION_JSON);
  const later = await readEvaluationFile(changedFile).catch(() => null);
  if (later && later.evaluatedAt > e.evaluatedAt) {
    throw new Error(
      `${file}: the run's dataset ${e.data.root} changed since (${later.data.changed?.join('; ') ?? 'see ' + changedFile}); ` +
        `put the folder back as it was at training, or train a new run on it`,
    );
  }
  return e;
}
