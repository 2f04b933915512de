/**
 * The prediction contract used by predict, serve, the page and evaluate:
 * calibrated probabilities (softmax of logits / T) and, when a detector is fitted, "unknown" for
 * photos whose OOD score is below the threshold.
 */
import { softmax } from './scorers';
import type { OodDetector } from './ood-file';
import { calibration, fitTemperature } from './calibration';
import { fitScorer, type FitData, type FeatureRows, type OodMethod, type ScorerOptions } from './scorers';
import { DEFAULT_ACCEPT_RATE, thresholdAtAcceptRate } from './threshold';

export interface OodDecision {
  /** The class, or null when the photo is judged unknown. */
  label: string | null;
  unknown: boolean;
  /** The most probable known class (also when unknown). */
  top: string;
  /** Calibrated probability of `top`. */
  probability: number;
  /** Calibrated probability per known class (sum 1). */
  probabilities: Record<string, number>;
  /** null when the model has no detector (then unknown is always false). */
  ood: { method: OodMethod; score: number; threshold: number } | null;
}

/**
 * Decides for one photo from its penultimate features and class logits (see features.ts).
 * Without a detector, `temperature` (default 1) calibrates and nothing is unknown.
 */
export function decide(
  features: Float32Array,
  logits: Float32Array,
  labels: string[],
  detector: OodDetector | null,
  temperature = detector?.temperature ?? 1,
): OodDecision {
  if (logits.length !== labels.length) throw new Error(`decide: ${logits.length} logits for ${labels.length} labels`);
  const p = softmax(logits, temperature);
  let top = 0;
  for (let j = 1; j < p.length; j++) if (p[j] > p[top]) top = j;
  const probabilities: Record<string, number> = {};
  labels.forEach((l, j) => (probabilities[l] = p[j]));
  let ood: OodDecision['ood'] = null;
  let unknown = false;
  if (detector) {
    const score = detector.scorer.score(features, logits);
    ood = { method: detector.method, score, threshold: detector.threshold };
    unknown = !(score >= detector.threshold);
  }
  return { label: unknown ? null : labels[top], unknown, top: labels[top], probability: p[top], probabilities, ood };
}

/** Decisions for n rows. */
export function decideRows(rows: FeatureRows, labels: string[], detector: OodDetector | null, temperature?: number): OodDecision[] {
  const out: OodDecision[] = [];
  for (let i = 0; i < rows.n; i++) {
    out.push(
      decide(
        rows.features.subarray(i * rows.featureDim, (i + 1) * rows.featureDim),
        rows.logits.subarray(i * rows.numClasses, (i + 1) * rows.numClasses),
        labels,
        detector,
        temperature,
      ),
    );
  }
  return out;
}

export interface FitDetectorOptions extends ScorerOptions {
  method: OodMethod;
  /** Share of known validation photos to accept (default 0.95). */
  acceptRate?: number;
  /** Names recorded in fittedOn (default 'train' / 'val'). */
  trainSplit?: string;
  thresholdSplit?: string;
  /** Fit temperature scaling on the validation logits (default true). */
  calibrate?: boolean;
}

/**
 * Fits a detector: the scorer on training features/logits/labels, the threshold on validation
 * scores of known photos at `acceptRate`, the temperature on validation logits (NLL).
 * Training calls it after the best weights are restored; the result goes to writeOodFile.
 */
export function fitDetector(train: FitData, val: FitData, labels: string[], opts: FitDetectorOptions): OodDetector {
  if (!val.n) throw new Error('fitDetector: the threshold needs validation photos of known classes (val split or CV folds); got none');
  const scorer = fitScorer(opts.method, train, opts);
  const acceptRate = opts.acceptRate ?? DEFAULT_ACCEPT_RATE;
  const threshold = thresholdAtAcceptRate(scorer.scoreRows(val), acceptRate);
  let temperature = 1;
  let cal: OodDetector['calibration'];
  if (opts.calibrate !== false) {
    const t = fitTemperature(val.logits, val.labels, val.numClasses);
    // A fit that ends at the edge of its search range was not determined by the validation photos
    // (typically a perfectly separated set, where NLL keeps falling as T -> 0 and every answer would
    // read 100%): the model's own probabilities are kept (T = 1) and the record says why.
    temperature = t.atBound ? 1 : t.temperature;
    cal = {
      n: val.n,
      split: opts.thresholdSplit ?? 'val',
      nllBefore: t.nllBefore,
      nllAfter: t.nllAfter,
      temperatureAtBound: t.atBound,
      eceBefore: calibration(val.logits, val.labels, val.numClasses, 1).ece,
      eceAfter: calibration(val.logits, val.labels, val.numClasses, temperature).ece,
    };
  }
  return {
    scorer,
    method: opts.method,
    threshold,
    acceptRate,
    temperature,
    labels,
    fittedOn: { n: train.n, split: opts.trainSplit ?? 'train', thresholdN: val.n, thresholdSplit: opts.thresholdSplit ?? 'val' },
    calibration: cal,
  };
}
