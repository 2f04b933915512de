/**
 * The prediction contract used by predict, serve, the page and evaluate:
 * calibrated probabilities (softmax of logits / T) and, when a detector is fitted, "unknown" for
 * photos whose OOD score is below the threshold.
 */
import { softmax } from './scorers';
import type { OodDetector } from './ood-file';
import { calibration, fitTemperature } from './calibration';
import { fitScorer, scoreDistance, type FitData, type FeatureRows, type OodMethod, type ScorerOptions } from './scorers';
import { chooseThreshold, DEFAULT_ACCEPT_RATE } from './threshold';
import { fitSilhouettePart, measureShapes, type FitSilhouetteOptions } from './silhouette-scorer';
import type { RawImage, SilhouetteShape } from '@parts/data';

/** The method named in a decision: the feature scorer's, with `+silhouette` when the detector has a shape part. */
export type OodDecisionMethod = OodMethod | `${OodMethod}+silhouette`;

/** The method of a detector as decisions and summaries name it. */
export function detectorMethod(det: Pick<OodDetector, 'method' | 'silhouette'>): OodDecisionMethod {
  return det.silhouette ? `${det.method}+silhouette` : det.method;
}

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
  /**
   * null when the model has no detector (then unknown is always false). score/threshold are the
   * feature scorer's; `silhouette` is present when the detector has a shape part (score null: no
   * object found in the photo). Unknown when either part rejects.
   */
  ood: { method: OodDecisionMethod; score: number; threshold: number; silhouette?: { score: number | null; threshold: number } } | null;
}

/**
 * Decides for one photo from its penultimate features and class logits (see features.ts) and,
 * when the detector has a silhouette part, the photo's measured shape (`detector.silhouette.scorer
 * .measure(image)` of the same decoded image the model saw; null = no object, which is unknown).
 * Without a detector, `temperature` (default 1) calibrates and nothing is unknown.
 */
export function decide(
  features: Float32Array,
  logits: Float32Array,
  labels: string[],
  detector: OodDetector | null,
  temperature = detector?.temperature ?? 1,
  shape?: SilhouetteShape | null,
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
    ood = { method: detectorMethod(detector), score, threshold: detector.threshold };
    unknown = !(score >= detector.threshold);
    const sil = detector.silhouette;
    if (sil) {
      if (shape === undefined) throw new Error("decide: the detector has a silhouette part; pass the photo's shape (detector.silhouette.scorer.measure(image))");
      const s = sil.scorer.score(shape);
      ood.silhouette = { score: Number.isFinite(s) ? s : null, threshold: sil.threshold };
      if (!(s >= sil.threshold)) unknown = true;
    }
  }
  return { label: unknown ? null : labels[top], unknown, top: labels[top], probability: p[top], probabilities, ood };
}

/** Decisions for n rows; `shapes` (one per row) is needed when the detector has a silhouette part. */
export function decideRows(
  rows: FeatureRows,
  labels: string[],
  detector: OodDetector | null,
  temperature?: number,
  shapes?: readonly (SilhouetteShape | null)[],
): OodDecision[] {
  if (shapes && shapes.length !== rows.n) throw new Error(`decideRows: ${shapes.length} shapes for ${rows.n} rows`);
  const out: OodDecision[] = [];
  for (let i = 0; i < rows.n; i++) {
    out.push(
      decide(
        rows.features.subarray(i * rows.featureDim, (i + 1) * rows.featureDim),
        rows.logits.subarray(i * rows.numClasses, (i + 1) * rows.numClasses),
        labels,
        detector,
        temperature,
        shapes?.[i],
      ),
    );
  }
  return out;
}

export interface FitDetectorOptions extends ScorerOptions {
  method: OodMethod;
  /** Share of known photos the threshold is set to accept (default DEFAULT_ACCEPT_RATE; chooseThreshold). */
  acceptRate?: number;
  /** Names recorded in fittedOn (default 'train' / 'val'). */
  trainSplit?: string;
  thresholdSplit?: string;
  /** Fit temperature scaling on the validation logits (default true). */
  calibrate?: boolean;
  /**
   * Near-duplicate group of each validation row (a photo's line-light variants share its group):
   * the thresholds' confidence bounds, the feature part's and the silhouette part's, count groups,
   * not rows (chooseThreshold's `units`). Default: each row its own photo.
   */
  valGroups?: readonly number[];
  /**
   * The silhouette shapes of the same training and validation photos (measureShapes of the decoded
   * images, in row order), to fit the shape part; absent: no silhouette part. `note` is recorded as
   * silhouetteNote when no part is fitted (e.g. why it was switched off).
   */
  silhouette?: { train: readonly (SilhouetteShape | null)[]; val: readonly (SilhouetteShape | null)[]; options?: FitSilhouetteOptions } | { note: string };
}

/**
 * fitDetector's `silhouette` option as training fits it: the shapes of the same decoded,
 * un-augmented training and validation images the features come from (in row order), or, when
 * switched off, the note recorded in ood.json. Training and the OOD study both use it, so that the
 * study measures the detector training writes. `trainGroups` (near-duplicate group per training
 * image) makes the shape threshold's training scores leave-group-out (the validation images' groups
 * are fitDetector's `valGroups`).
 */
export function silhouetteFitInput(
  images: { train: readonly RawImage[]; val: readonly RawImage[] },
  enabled = true,
  trainGroups?: readonly number[],
): NonNullable<FitDetectorOptions['silhouette']> {
  if (!enabled) return { note: 'no silhouette part: switched off (--no-silhouette, or by the data recipe)' };
  return { train: measureShapes(images.train), val: measureShapes(images.val), ...(trainGroups ? { options: { trainGroups } } : {}) };
}

/**
 * Fits a detector: the scorer on training features/logits/labels, the threshold on validation
 * scores of known photos at `acceptRate`, the temperature on validation logits (NLL).
 * Training calls it after the best weights are restored; the result goes to writeOodFile.
 */
export function fitDetector(train: FitData, val: FitData, labels: string[], opts: FitDetectorOptions): OodDetector {
  if (!val.n) throw new Error('fitDetector: the threshold needs validation photos of known classes (val split or CV folds); got none');
  if (opts.valGroups && opts.valGroups.length !== val.n) throw new Error(`fitDetector: ${opts.valGroups.length} validation groups for ${val.n} validation rows`);
  const scorer = fitScorer(opts.method, train, opts);
  const acceptRate = opts.acceptRate ?? DEFAULT_ACCEPT_RATE;
  // With a silhouette part, each part accepts sqrt(acceptRate) of its known photos, so that the
  // two together (unknown when either rejects) accept acceptRate when their misses are independent.
  let silhouette: OodDetector['silhouette'];
  let silhouetteNote: string | undefined;
  if (opts.silhouette && 'note' in opts.silhouette) silhouetteNote = opts.silhouette.note;
  else if (opts.silhouette) {
    const { train: st, val: sv, options } = opts.silhouette;
    if (st.length !== train.n || sv.length !== val.n) throw new Error(`fitDetector: ${st.length}/${sv.length} silhouette shapes for ${train.n}/${val.n} train/val photos`);
    // The validation shapes are the validation rows' photos: their groups are the same.
    const fit = fitSilhouettePart(st, sv, { ...options, ...(opts.valGroups ? { valGroups: opts.valGroups } : {}), acceptRate: Math.sqrt(acceptRate) });
    if (fit.part) silhouette = fit.part;
    else silhouetteNote = `no silhouette part: ${fit.problem}`;
  }
  const valScores = scorer.scoreRows(val);
  const units = opts.valGroups ? new Set(opts.valGroups).size : val.n;
  const { threshold, rule } = chooseThreshold(valScores, silhouette ? Math.sqrt(acceptRate) : acceptRate, { distance: scoreDistance(opts.method), units });
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
    fittedOn: {
      n: train.n,
      split: opts.trainSplit ?? 'train',
      thresholdN: val.n,
      thresholdSplit: opts.thresholdSplit ?? 'val',
      thresholdRule: rule,
      ...(units < val.n ? { thresholdGroups: units } : {}),
      ...scoreSummary(valScores),
    },
    calibration: cal,
    ...(silhouette ? { silhouette } : {}),
    ...(silhouetteNote ? { silhouetteNote } : {}),
  };
}

/** Mean and standard deviation (n - 1) of finite scores, as ood.json records them; {} with fewer than 2. */
function scoreSummary(scores: ArrayLike<number>): { thresholdScores?: { mean: number; sd: number } } {
  const xs = Array.from(scores).filter(Number.isFinite);
  if (xs.length < 2) return {};
  const mean = xs.reduce((a, x) => a + x, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1));
  return { thresholdScores: { mean, sd } };
}
