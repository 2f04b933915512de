/**
 * A loaded classifier with its feature/logit sub-model and its OOD detector (ood.json): what
 * predict and serve use to answer with the prediction contract (`decide`). Models saved without
 * ood.json still load: they are never unknown and their probabilities are the model's own (T = 1).
 */
import path from 'node:path';
import type { RawImage, SilhouetteShape } from '@parts/data';
import { disposeClassifier, loadClassifier, type Classifier } from '../classifier';
import { computeFeaturesAndLogits, featureAndLogitModel, type FeatureAndLogitModel } from './features';
import { decideRows, detectorMethod, type OodDecision, type OodDecisionMethod } from './decide';
import type { FeatureRows } from './scorers';
import { OOD_JSON, readOodFile, type OodDetector } from './ood-file';

export interface UnknownOptions {
  /** false: ood.json is not read; plain classification (never unknown, T = 1). Default true. */
  enabled?: boolean;
  /** Replaces the threshold stored in ood.json (accept when score >= threshold). */
  threshold?: number;
}

/** What answers unknown and calibrates, as `GET /api/model` and `pnpm predict` describe it. */
export type OodSummary =
  | {
      active: true;
      /** The feature scorer's method, `+silhouette` when a shape part also rejects (docs/ood.md). */
      method: OodDecisionMethod;
      threshold: number;
      /** The shape part's threshold and its own accept rate, when the detector has one. */
      silhouette?: { threshold: number; acceptRate: number };
      /** The threshold stored in ood.json (differs from `threshold` when overridden). */
      storedThreshold: number;
      thresholdOverridden: boolean;
      /** Share of known validation photos accepted at the stored threshold. */
      acceptRate: number;
      temperature: number;
      file: string;
    }
  | { active: false; reason: string; temperature: 1 };

export interface Predictor {
  classifier: Classifier;
  fl: FeatureAndLogitModel;
  detector: OodDetector | null;
  ood: OodSummary;
  dispose(): void;
}

/**
 * Loads the classifier of `dir` (a model folder or a run folder holding model/) and its ood.json.
 * A corrupt or mismatching ood.json throws the error of readOodFile (naming the file), unless
 * `unknown.enabled` is false; `unknown.threshold` without an ood.json throws too.
 */
export async function loadPredictor(dir: string, unknown: UnknownOptions = {}): Promise<Predictor> {
  const classifier = await loadClassifier(dir);
  let fl: FeatureAndLogitModel | null = null;
  try {
    fl = featureAndLogitModel(classifier.model);
    const file = path.join(classifier.dir, OOD_JSON);
    const enabled = unknown.enabled !== false;
    if (unknown.threshold !== undefined && !Number.isFinite(unknown.threshold)) throw new RangeError(`unknown threshold must be a finite number, got ${unknown.threshold}`);
    if (!enabled && unknown.threshold !== undefined) throw new Error('an unknown threshold and "no unknown" were both asked for; choose one');
    let detector: OodDetector | null = null;
    let ood: OodSummary;
    if (!enabled) {
      ood = { active: false, reason: `unknown detection switched off (${OOD_JSON} not read)`, temperature: 1 };
    } else {
      detector = await readOodFile(classifier.dir, { featureDim: fl.featureDim, labels: classifier.meta.labels });
      if (!detector) {
        if (unknown.threshold !== undefined) throw new Error(`${file}: missing; an unknown threshold needs the model's ${OOD_JSON} (fitted by training)`);
        ood = { active: false, reason: `no ${OOD_JSON} in the model folder (saved before unknown detection): never unknown, probabilities uncalibrated`, temperature: 1 };
      } else {
        const storedThreshold = detector.threshold;
        if (unknown.threshold !== undefined) detector = { ...detector, threshold: unknown.threshold };
        ood = {
          active: true,
          method: detectorMethod(detector),
          threshold: detector.threshold,
          ...(detector.silhouette ? { silhouette: { threshold: detector.silhouette.threshold, acceptRate: detector.silhouette.acceptRate } } : {}),
          storedThreshold,
          thresholdOverridden: unknown.threshold !== undefined,
          acceptRate: detector.acceptRate,
          temperature: detector.temperature,
          file,
        };
      }
    }
    const flm = fl;
    return { classifier, fl: flm, detector, ood, dispose: () => (flm.dispose(), disposeClassifier(classifier)) };
  } catch (e) {
    fl?.dispose();
    disposeClassifier(classifier);
    throw e;
  }
}

/** Decisions (the prediction contract) for images already decoded at the model's size. */
export async function predictDecisions(p: Predictor, images: RawImage[], batchSize = 16): Promise<OodDecision[]> {
  if (images.length === 0) return [];
  const rows = await computeFeaturesAndLogits(p.fl, images, p.classifier.meta, batchSize);
  return decideRows(rows, p.classifier.meta.labels, p.detector, undefined, detectorShapes(p.detector, images));
}

/** The shapes a detector's silhouette part needs for `images` (undefined when it has none). */
export function detectorShapes(detector: OodDetector | null, images: readonly RawImage[]) {
  const sil = detector?.silhouette;
  return sil ? images.map((im) => sil.scorer.measure(im)) : undefined;
}

/** What a detector says about each of n images: the decision of the one rule and each part's own verdict. */
export interface OodVerdicts {
  /** Not unknown: every part of the detector accepts (decide / decideRows). */
  accepted: boolean[];
  /** The feature scorer alone accepts (score >= threshold). */
  featureAccepted: boolean[];
  /** The silhouette part alone accepts; null when the detector has none. */
  silhouetteAccepted: boolean[] | null;
  /** The silhouette part found no object (so rejected); null when the detector has none. */
  silhouetteNoObject: boolean[] | null;
}

/**
 * The decisions predict and serve make (decideRows with the images' shapes) for `rows` computed
 * from `images`, reduced to what evaluations count. `rows` and `images` are in the same order.
 * `shapes`: the images' shapes when the caller has already measured them as the detector's
 * silhouette part does (default: measured here).
 */
export function oodVerdicts(
  detector: OodDetector,
  rows: FeatureRows,
  images: readonly RawImage[],
  shapes: readonly (SilhouetteShape | null)[] | undefined = detectorShapes(detector, images),
): OodVerdicts {
  if (images.length !== rows.n) throw new Error(`oodVerdicts: ${images.length} images for ${rows.n} feature rows`);
  const ds = decideRows(rows, detector.labels, detector, undefined, shapes);
  const sil = detector.silhouette ? ds.map((d) => d.ood!.silhouette!) : null;
  return {
    accepted: ds.map((d) => !d.unknown),
    featureAccepted: ds.map((d) => d.ood!.score >= d.ood!.threshold),
    silhouetteAccepted: sil && sil.map((s) => s.score !== null && s.score >= s.threshold),
    silhouetteNoObject: sil && sil.map((s) => s.score === null),
  };
}
