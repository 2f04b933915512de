/**
 * A loaded classifier with its feature/logit sub-model and its OOD detector (ood.json): what
 * predict and serve use to answer with the prediction contract (`decide`). Models saved without
 * ood.json still load: they are never unknown and their probabilities are the model's own (T = 1).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { RawImage, SilhouetteShape } from '@parts/data';
import { disposeClassifier, loadClassifier, type Classifier } from '../classifier';
import { readClassifierMeta, resolveModelDir } from '../classifier-file';
import type { ClassifierMeta } from '../types';
import { exportOnnx } from '../onnx/export-onnx';
import { MODEL_ONNX } from '../onnx/onnx-file';
import { OnnxForward } from '../onnx/onnx-forward';
import type { OrtModule } from '../onnx/onnx-runtime';
import { chooseEngine } from '../onnx/engine-choice';
import { computeFeaturesAndLogits, featureAndLogitModel, type FeaturesAndLogits } from './features';
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
      /** Share of known photos the stored threshold was set to accept (on the validation photos; chooseThreshold). */
      acceptRate: number;
      temperature: number;
      file: string;
      /** Mean, standard deviation and count of the feature scores of the photos the threshold was chosen on (when ood.json records them). */
      thresholdScores?: { mean: number; sd: number; n: number };
    }
  | { active: false; reason: string; temperature: 1 };

/** Where the forward pass runs: TensorFlow.js (the initialised backend) or ONNX Runtime on the CPU. */
export type EngineName = 'tfjs' | 'onnx';
/** What predict, evaluate and serve are asked for; 'auto' prefers ONNX Runtime on CPU (see chooseEngine). */
export type EngineRequest = 'auto' | EngineName;

export interface EngineInfo {
  name: EngineName;
  /** e.g. "onnxruntime-node 1.30.0 (cpu, 2 threads, model.onnx)" or "tfjs wasm". */
  detail: string;
  /** Why this engine was chosen (and why not the other one, when it was asked for or preferred). */
  reason: string;
}

export interface Predictor {
  meta: ClassifierMeta;
  /** The model folder. */
  dir: string;
  engine: EngineInfo;
  featureDim: number;
  /** Penultimate features and class logits of images already at the model's size. */
  featuresAndLogits(images: RawImage[], batchSize?: number): Promise<FeaturesAndLogits>;
  /**
   * The tfjs classifier (Grad-CAM needs its gradients). On the tfjs engine the one that predicts;
   * on ONNX Runtime loaded on first call (on the tfjs backend initialised in this thread), so
   * serving and predicting without explanations never hold the tfjs model.
   */
  tfjsClassifier(): Promise<Classifier>;
  detector: OodDetector | null;
  ood: OodSummary;
  dispose(): void;
}

export interface LoadPredictorOptions {
  /** Default 'tfjs' (the engine of the backend initialised in this thread). */
  engine?: EngineRequest;
  /** The tfjs backend the caller initialised ('auto' prefers ONNX Runtime unless it is webgpu). */
  backend?: string;
  /** ONNX Runtime intra-op threads (default: the cores). */
  threads?: number;
}

/**
 * Loads the classifier of `dir` (a model folder or a run folder holding model/) and its ood.json.
 * A corrupt or mismatching ood.json throws the error of readOodFile (naming the file), unless
 * `unknown.enabled` is false; `unknown.threshold` without an ood.json throws too. On ONNX Runtime
 * the folder's model.onnx is run when present (exported by `pnpm export --format onnx`), else the
 * tfjs model is exported in memory and freed.
 */
export async function loadPredictor(dir: string, unknown: UnknownOptions = {}, opts: LoadPredictorOptions = {}): Promise<Predictor> {
  const modelDir = await resolveModelDir(dir);
  const meta = await readClassifierMeta(modelDir);
  const choice = await chooseEngine(opts.engine ?? 'tfjs', { backend: opts.backend });
  const forward = choice.name === 'onnx' ? await openOnnxForward(modelDir, meta, choice.ort, opts.threads) : await openTfjsForward(modelDir);
  try {
    const engine: EngineInfo = { name: choice.name, detail: forward.detail, reason: choice.reason };
    const { detector, ood } = await readDetector(modelDir, meta, forward.featureDim, unknown);
    let lazy: Promise<Classifier> | null = forward.classifier ? Promise.resolve(forward.classifier) : null;
    return {
      meta,
      dir: modelDir,
      engine,
      featureDim: forward.featureDim,
      featuresAndLogits: forward.featuresAndLogits,
      tfjsClassifier: () => (lazy ??= loadClassifier(modelDir)),
      detector,
      ood,
      dispose: () => {
        forward.dispose();
        if (lazy && !forward.classifier) void lazy.then(disposeClassifier, () => {});
      },
    };
  } catch (e) {
    forward.dispose();
    throw e;
  }
}

interface OpenForward {
  featureDim: number;
  detail: string;
  featuresAndLogits(images: RawImage[], batchSize?: number): Promise<FeaturesAndLogits>;
  /** The tfjs engine's classifier (shared with Grad-CAM). */
  classifier?: Classifier;
  dispose(): void;
}

async function openTfjsForward(modelDir: string): Promise<OpenForward> {
  const classifier = await loadClassifier(modelDir);
  try {
    const fl = featureAndLogitModel(classifier.model);
    return {
      featureDim: fl.featureDim,
      detail: `tfjs ${tf.getBackend()}`,
      featuresAndLogits: (images, batchSize) => computeFeaturesAndLogits(fl, images, classifier.meta, batchSize),
      classifier,
      dispose: () => (fl.dispose(), disposeClassifier(classifier)),
    };
  } catch (e) {
    disposeClassifier(classifier);
    throw e;
  }
}

async function openOnnxForward(modelDir: string, meta: ClassifierMeta, ort: OrtModule, threads?: number): Promise<OpenForward> {
  const file = path.join(modelDir, MODEL_ONNX);
  let bytes: Uint8Array;
  let source: string;
  try {
    bytes = await fs.readFile(file);
    source = MODEL_ONNX;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read ${file}: ${(e as Error).message}`);
    const c = await loadClassifier(modelDir);
    try {
      bytes = exportOnnx(c.model, c.meta);
    } finally {
      disposeClassifier(c);
    }
    source = 'exported in memory';
  }
  const f = await OnnxForward.create(ort, bytes, meta, { threads, file });
  return {
    featureDim: f.featureDim,
    detail: `onnxruntime-node (cpu, ${f.threads} thread${f.threads === 1 ? '' : 's'}, no spinning; ${source})`,
    featuresAndLogits: (images, batchSize) => f.featuresAndLogits(images, batchSize),
    dispose: () => void f.release(),
  };
}

async function readDetector(modelDir: string, meta: ClassifierMeta, featureDim: number, unknown: UnknownOptions): Promise<{ detector: OodDetector | null; ood: OodSummary }> {
  const file = path.join(modelDir, OOD_JSON);
  const enabled = unknown.enabled !== false;
  if (unknown.threshold !== undefined && !Number.isFinite(unknown.threshold)) throw new RangeError(`unknown threshold must be a finite number, got ${unknown.threshold}`);
  if (!enabled && unknown.threshold !== undefined) throw new Error('an unknown threshold and "no unknown" were both asked for; choose one');
  if (!enabled) return { detector: null, ood: { active: false, reason: `unknown detection switched off (${OOD_JSON} not read)`, temperature: 1 } };
  let detector = await readOodFile(modelDir, { featureDim, labels: meta.labels });
  if (!detector) {
    if (unknown.threshold !== undefined) throw new Error(`${file}: missing; an unknown threshold needs the model's ${OOD_JSON} (fitted by training)`);
    return { detector: null, ood: { active: false, reason: `no ${OOD_JSON} in the model folder (saved before unknown detection): never unknown, probabilities uncalibrated`, temperature: 1 } };
  }
  const storedThreshold = detector.threshold;
  if (unknown.threshold !== undefined) detector = { ...detector, threshold: unknown.threshold };
  return {
    detector,
    ood: {
      active: true,
      method: detectorMethod(detector),
      threshold: detector.threshold,
      ...(detector.silhouette ? { silhouette: { threshold: detector.silhouette.threshold, acceptRate: detector.silhouette.acceptRate } } : {}),
      storedThreshold,
      thresholdOverridden: unknown.threshold !== undefined,
      acceptRate: detector.acceptRate,
      temperature: detector.temperature,
      file,
      ...(detector.fittedOn.thresholdScores ? { thresholdScores: { ...detector.fittedOn.thresholdScores, n: detector.fittedOn.thresholdN } } : {}),
    },
  };
}

/** Decisions (the prediction contract) for images already decoded at the model's size. */
export async function predictDecisions(p: Predictor, images: RawImage[], batchSize = 16): Promise<OodDecision[]> {
  if (images.length === 0) return [];
  const rows = await p.featuresAndLogits(images, batchSize);
  return decideRows(rows, p.meta.labels, p.detector, undefined, detectorShapes(p.detector, images));
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
