/**
 * The OOD measurement protocol, run programmatically:
 *  (a) leave-classes-out: for each rotation, train on the dataset without a pair of classes (or
 *      reuse a run trained that way); the left-out classes' photos are the "near" unknowns;
 *  (b) far-OOD: generated images (far-ood.ts) and blurred / very dark versions of test photos.
 * For each method the detector is fitted as training fits it: the scorer on the run's train
 * features, the threshold on its val split at `acceptRate` (never on test or unknowns), temperature
 * scaling on val logits and, unless `silhouette: false`, the silhouette part on the same photos'
 * shapes (silhouetteFitInput). Known photos for the metrics are the test split of the kept classes.
 * AUROC, FPR95 and AURC are on the feature score; accepted / rejected shares, coverage and
 * selective accuracy follow the rule predict and serve apply (oodVerdicts: unknown when any part
 * rejects).
 *
 * `measureRejection` answers one question for a trained run: what share of a folder of photos of
 * something else is rejected at the fitted threshold.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { blurredPhoto, darkenedPhoto, decodeImage, farOodSet, listDataset, type RawImage, type Sample } from '@parts/data';
import {
  calibration,
  computeFeaturesAndLogits,
  disposeClassifier,
  featureAndLogitModel,
  detectorMethod,
  fitDetector,
  loadClassifier,
  measureShapes,
  oodVerdicts,
  silhouetteFitInput,
  OOD_METHODS,
  type Classifier,
  type FeatureAndLogitModel,
  type FeaturesAndLogits,
  type FitData,
  type FitDetectorOptions,
  type OodDecisionMethod,
  type OodMethod,
  type ScorerOptions,
} from '@parts/models';
import { datasetChangesSinceTraining, detectorGroups, imagesPerPhoto, runListOptions, train, withVariants, type DetectorVariants, type TrainOptions } from '@parts/train';
import { makeHoldoutDataset } from './ood-holdout';
import { aurocKnownVsUnknown, fprAtKnownRate, riskCoverage, selectiveAccuracyOf } from './ood-metrics';
import { DEFAULT_ACCEPT_RATE } from '@parts/cli';

export interface OodMethodResult {
  /** The feature scorer. */
  method: OodMethod;
  /** The detector as predict and serve name it (`+silhouette` with a shape part). */
  detector: OodDecisionMethod;
  /** The score the AUROC, FPR95 and AURC figures are on. */
  aurocScore: 'feature';
  /** Known (test) vs left-out classes' photos. */
  aurocNear: number;
  /** Known (test) vs generated / degraded images. */
  aurocFar: number;
  /** Unknowns accepted when 95% of the known TEST photos are (oracle threshold, comparable across methods). */
  fpr95Near: number;
  fpr95Far: number;
  /** By the detector fitted on val (unknown when any part rejects): share of known test photos accepted, unknowns rejected. */
  knownAccepted: number;
  nearRejected: number;
  farRejected: number;
  /** Accuracy on accepted known test photos and their share (coverage). */
  selectiveAccuracy: number;
  coverage: number;
  /** Area under the risk–coverage curve of the known test photos (lower is better). */
  aurc: number;
  /** The feature scorer's threshold. */
  threshold: number;
  /** The silhouette part's threshold and what it rejects on its own; or why the detector has none. */
  silhouette: SilhouettePartFigures | { note: string };
}

export interface SilhouettePartFigures {
  threshold: number;
  /** Shares rejected by the silhouette part alone. */
  knownRejected: number;
  nearRejected: number;
  farRejected: number;
}

export interface OodRotationResult {
  key: string;
  runDir: string;
  leftOut: string[];
  kept: string[];
  n: { train: number; val: number; testKnown: number; near: number; far: number };
  testAccuracy: number;
  temperature: number;
  eceTest: { before: number; after: number };
  nllVal: { before: number; after: number };
  methods: OodMethodResult[];
}

export interface OodStudySummaryRow {
  method: OodMethod;
  /** The detectors measured over the rotations (e.g. `knn+silhouette`; two when only some rotations had a silhouette part). */
  detectors: OodDecisionMethod[];
  rotations: number;
  meanAurocNear: number;
  meanAurocFar: number;
  meanFpr95Near: number;
  meanFpr95Far: number;
  meanKnownAccepted: number;
  meanNearRejected: number;
  meanFarRejected: number;
  meanSelectiveAccuracy: number;
  meanAurc: number;
}

export interface OodStudyResult {
  arch: string;
  acceptRate: number;
  rotations: OodRotationResult[];
  summary: OodStudySummaryRow[];
  /** Method with the best mean of near and far AUROC. */
  recommended: OodMethod;
}

export interface OodStudyOptions {
  /** Source dataset (e.g. bolts-nuts). */
  data: string;
  /** Pairs (or sets) of class folder names to leave out, one rotation each. */
  rotations: string[][];
  /** Where the symlink datasets (and new runs) go. */
  workDir: string;
  /** Training options for new runs (data/out/name are set here). */
  train?: Partial<TrainOptions>;
  /** Existing run folders per rotation index, trained on exactly that rotation's kept classes. */
  runs?: Record<number, string>;
  methods?: readonly OodMethod[];
  acceptRate?: number;
  scorer?: ScorerOptions;
  /** Generated far-OOD images per kind (default 4), plus blurred and dark versions of up to this many ×2 test photos. */
  farPerKind?: number;
  /** Fit the silhouette part as training does (default true; false: the feature scorer alone, as `--no-silhouette`). */
  silhouette?: boolean;
  log?: (m: string) => void;
}

interface RunSplits {
  classifier: Classifier;
  fl: FeatureAndLogitModel;
  classes: string[];
  splits: Record<'train' | 'val' | 'test', Sample[]>;
  /** Near-duplicate group of each train-folder photo, when the run was listed with groups. */
  groupOf?: ReadonlyMap<string, number>;
  /** The variants training fitted its detector with (--ood-line-light, --ood-turns). */
  variants: DetectorVariants;
}

/** Loads a run's model and re-lists its dataset with the run's own split options (seed, valSplit). */
async function openRun(runDir: string): Promise<RunSplits> {
  const config = JSON.parse(await readFile(path.join(runDir, 'config.json'), 'utf8')) as {
    options: { seed: number; valSplit: number; groupThreshold?: number; oodLineLight?: boolean; oodTurns?: boolean; skipBad?: boolean; fold?: unknown };
    data: { root: string; classes: string[]; counts: Record<'train' | 'val' | 'test', number[]>; fingerprint?: string; groups?: { crowd?: number | null } };
  };
  // Files a --skip-bad run left out are found only by decoding them.
  const index = await listDataset(config.data.root, { ...runListOptions(config), validate: config.options.skipBad === true });
  const changed = await datasetChangesSinceTraining(index, config);
  if (changed.length) throw new Error(`${runDir}: ${config.data.root} changed since training: ${changed.join('; ')}`);
  const classifier = await loadClassifier(runDir);
  return { classifier, fl: featureAndLogitModel(classifier.model), classes: index.classes, splits: index.splits, groupOf: index.groupOf, variants: { lineLight: config.options.oodLineLight === true, turns: config.options.oodTurns === true } };
}

async function decodeAll(files: string[], c: Classifier): Promise<RawImage[]> {
  const out: RawImage[] = [];
  for (const f of files) out.push(await decodeImage(f, { size: c.meta.imgSize, fit: c.meta.fit }));
  return out;
}

function fitData(rows: FeaturesAndLogits, labels: number[]): FitData {
  return { ...rows, labels };
}

function argmaxRows(rows: FeaturesAndLogits): number[] {
  const out: number[] = [];
  for (let i = 0; i < rows.n; i++) {
    let b = 0;
    for (let j = 1; j < rows.numClasses; j++) if (rows.logits[i * rows.numClasses + j] > rows.logits[i * rows.numClasses + b]) b = j;
    out.push(b);
  }
  return out;
}

interface ImageRows {
  images: RawImage[];
  rows: FeaturesAndLogits;
}

async function imageRows(r: RunSplits, files: string[]): Promise<ImageRows> {
  const images = await decodeAll(files, r.classifier);
  return { images, rows: await computeFeaturesAndLogits(r.fl, images, r.classifier.meta) };
}

/** Decoded images and features/logits of the run's train, val and test photos. */
async function knownSets(r: RunSplits) {
  const set = async (s: Sample[]) => {
    const x = await imageRows(r, s.map((y) => y.file));
    return { images: x.images, rows: fitData(x.rows, s.map((y) => y.label)) };
  };
  // Train and val as training's OOD fit saw them: with --ood-line-light or --ood-turns, each photo and its variants.
  const groups = (s: Sample[]) => detectorGroups(s.map((y) => y.file), r.groupOf, r.variants);
  const [trainGroups, valGroups] = [groups(r.splits.train), groups(r.splits.val)];
  if (imagesPerPhoto(r.variants) === 1) return { train: await set(r.splits.train), val: await set(r.splits.val), test: await set(r.splits.test), trainGroups, valGroups };
  const lit = async (s: Sample[]) => {
    const images = await decodeAll(s.map((y) => y.file), r.classifier);
    const set = withVariants({ images, labels: s.map((y) => y.label), files: s.map((y) => y.file) }, r.variants);
    return { images: set.images, rows: fitData(await computeFeaturesAndLogits(r.fl, set.images, r.classifier.meta), set.labels) };
  };
  return { train: await lit(r.splits.train), val: await lit(r.splits.val), test: await set(r.splits.test), trainGroups, valGroups };
}

/** Fits one method's detector on a run's train/val photos, as training does. */
function fitStudyDetector(sets: Awaited<ReturnType<typeof knownSets>>, classes: string[], method: OodMethod, silhouette: FitDetectorOptions['silhouette'], opts: Pick<OodStudyOptions, 'acceptRate' | 'scorer'>) {
  return fitDetector(sets.train.rows, sets.val.rows, classes, { ...opts.scorer, method, acceptRate: opts.acceptRate, silhouette, valGroups: sets.valGroups });
}

/**
 * Shapes of evaluated images, measured once for all methods: every method's detector gets its
 * silhouette part from the same silhouetteFitInput, whose shapes are measureShapes with the default
 * options, so the part measures any image the same way.
 */
function studyShapes(images: readonly RawImage[], opts: Pick<OodStudyOptions, 'silhouette'>) {
  return opts.silhouette === false ? undefined : measureShapes(images);
}

const share = (xs: readonly boolean[], value: boolean) => (xs.length ? xs.filter((x) => x === value).length / xs.length : NaN);

/** Evaluates every method on one trained run with given near-unknown photos. */
export async function evaluateOodRun(
  runDir: string,
  nearFiles: string[],
  opts: Pick<OodStudyOptions, 'methods' | 'acceptRate' | 'scorer' | 'farPerKind' | 'silhouette'> = {},
): Promise<Omit<OodRotationResult, 'key' | 'leftOut' | 'kept'>> {
  const r = await openRun(runDir);
  try {
    const sets = await knownSets(r);
    const [tr, val, test] = [sets.train.rows, sets.val.rows, sets.test.rows];
    const near = await imageRows(r, nearFiles);
    const size = r.classifier.meta.imgSize;
    const perKind = opts.farPerKind ?? 4;
    const testImages = sets.test.images.slice(0, 2 * perKind);
    const farImages = [
      ...farOodSet(size, perKind, 1).map((s) => s.image),
      ...(await Promise.all(testImages.map((im) => blurredPhoto(im)))),
      ...testImages.map((im) => darkenedPhoto(im)),
    ];
    const far = await computeFeaturesAndLogits(r.fl, farImages, r.classifier.meta);
    const pred = argmaxRows(test);
    const correct = pred.map((p, i) => p === test.labels[i]);
    const silhouette = silhouetteFitInput({ train: sets.train.images, val: sets.val.images }, opts.silhouette !== false, sets.trainGroups);
    const shapes = { known: studyShapes(sets.test.images, opts), near: studyShapes(near.images, opts), far: studyShapes(farImages, opts) };
    const methods: OodMethodResult[] = [];
    let temperature = 1;
    let nllVal = { before: NaN, after: NaN };
    for (const method of opts.methods ?? OOD_METHODS) {
      const det = fitStudyDetector(sets, r.classes, method, silhouette, opts);
      temperature = det.temperature;
      nllVal = { before: det.calibration!.nllBefore, after: det.calibration!.nllAfter };
      const sKnown = det.scorer.scoreRows(test);
      const sNear = det.scorer.scoreRows(near.rows);
      const sFar = det.scorer.scoreRows(far);
      const vKnown = oodVerdicts(det, test, sets.test.images, shapes.known);
      const vNear = oodVerdicts(det, near.rows, near.images, shapes.near);
      const vFar = oodVerdicts(det, far, farImages, shapes.far);
      const sel = selectiveAccuracyOf(vKnown.accepted, correct);
      methods.push({
        method,
        detector: detectorMethod(det),
        aurocScore: 'feature',
        aurocNear: aurocKnownVsUnknown(sKnown, sNear),
        aurocFar: aurocKnownVsUnknown(sKnown, sFar),
        fpr95Near: fprAtKnownRate(sKnown, sNear).fpr,
        fpr95Far: fprAtKnownRate(sKnown, sFar).fpr,
        knownAccepted: share(vKnown.accepted, true),
        nearRejected: share(vNear.accepted, false),
        farRejected: share(vFar.accepted, false),
        selectiveAccuracy: sel.accuracy,
        coverage: sel.coverage,
        aurc: riskCoverage(sKnown, correct).aurc,
        threshold: det.threshold,
        silhouette:
          det.silhouette && vKnown.silhouetteAccepted && vNear.silhouetteAccepted && vFar.silhouetteAccepted
            ? {
                threshold: det.silhouette.threshold,
                knownRejected: share(vKnown.silhouetteAccepted, false),
                nearRejected: share(vNear.silhouetteAccepted, false),
                farRejected: share(vFar.silhouetteAccepted, false),
              }
            : { note: det.silhouetteNote ?? 'no silhouette part' },
      });
    }
    return {
      runDir,
      n: { train: tr.n, val: val.n, testKnown: test.n, near: near.rows.n, far: far.n },
      testAccuracy: correct.filter(Boolean).length / correct.length,
      temperature,
      eceTest: { before: calibration(test.logits, test.labels, test.numClasses, 1).ece, after: calibration(test.logits, test.labels, test.numClasses, temperature).ece },
      nllVal,
      methods,
    };
  } finally {
    r.fl.dispose();
    disposeClassifier(r.classifier);
  }
}

/** Runs (a) and (b) over every rotation and summarises per method. */
export async function runOodStudy(opts: OodStudyOptions): Promise<OodStudyResult> {
  const log = opts.log ?? (() => {});
  const rotations: OodRotationResult[] = [];
  let arch = opts.train?.arch ?? 'partsnet';
  for (const [i, leftOut] of opts.rotations.entries()) {
    const key = `rot${i}-${leftOut.join('+')}`;
    const holdout = await makeHoldoutDataset(opts.data, leftOut, path.join(opts.workDir, 'data', `rot${i}`));
    let runDir = opts.runs?.[i];
    if (!runDir) {
      log(`${key}: training on ${holdout.kept.join(', ')}`);
      const res = await train({ mode: 'scratch', quiet: true, ...opts.train, data: holdout.root, out: path.join(opts.workDir, 'runs'), name: `ood-rot${i}` } as TrainOptions);
      runDir = res.runDir;
    }
    const cfg = JSON.parse(await readFile(path.join(runDir, 'config.json'), 'utf8')) as { arch: string; data: { classes: string[] } };
    if (cfg.data.classes.join() !== holdout.kept.join()) {
      throw new Error(`${runDir}: trained on [${cfg.data.classes}], rotation ${i} keeps [${holdout.kept}]`);
    }
    arch = cfg.arch;
    const res = await evaluateOodRun(runDir, holdout.unknownFiles.map((u) => u.file), opts);
    rotations.push({ key, leftOut: holdout.leftOut, kept: holdout.kept, ...res });
    log(`${key}: ${res.methods.map((m) => `${m.method} AUROC near ${m.aurocNear.toFixed(3)} far ${m.aurocFar.toFixed(3)}`).join('; ')}`);
  }
  const summary = summarise(rotations);
  const recommended = summary.reduce((b, r) => (r.meanAurocNear + r.meanAurocFar > b.meanAurocNear + b.meanAurocFar ? r : b)).method;
  return { arch, acceptRate: opts.acceptRate ?? DEFAULT_ACCEPT_RATE, rotations, summary, recommended };
}

export function summarise(rotations: OodRotationResult[]): OodStudySummaryRow[] {
  const methods = [...new Set(rotations.flatMap((r) => r.methods.map((m) => m.method)))];
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return methods.map((method) => {
    const ms = rotations.map((r) => r.methods.find((m) => m.method === method)!).filter(Boolean);
    const f = (k: keyof OodMethodResult) => mean(ms.map((m) => m[k] as number));
    return {
      method,
      detectors: [...new Set(ms.map((m) => m.detector ?? m.method))],
      rotations: ms.length,
      meanAurocNear: f('aurocNear'),
      meanAurocFar: f('aurocFar'),
      meanFpr95Near: f('fpr95Near'),
      meanFpr95Far: f('fpr95Far'),
      meanKnownAccepted: f('knownAccepted'),
      meanNearRejected: f('nearRejected'),
      meanFarRejected: f('farRejected'),
      meanSelectiveAccuracy: f('selectiveAccuracy'),
      meanAurc: f('aurc'),
    };
  });
}

export interface RejectionResult {
  method: OodMethod;
  /** The detector as predict and serve name it (`+silhouette` with a shape part). */
  detector: OodDecisionMethod;
  n: number;
  /** Rejected by the detector (unknown when any part rejects). */
  rejected: number;
  rejectionRate: number;
  /** The feature scorer's threshold. */
  threshold: number;
  /** Share of known test photos the same detector accepts. */
  knownAccepted: number;
  /** On the feature score. */
  aurocVsTest: number;
  /** The silhouette part's threshold and the photos it rejects on its own, when the detector has one. */
  silhouette?: { threshold: number; rejected: number };
}

/**
 * Rejection rate of `files` (photos of something the run was not trained on) per method by the
 * detector fitted on the run's train/val splits at `acceptRate` (with the silhouette part unless
 * `silhouette: false`, as training fits it).
 */
export async function measureRejection(
  runDir: string,
  files: string[],
  opts: Pick<OodStudyOptions, 'methods' | 'acceptRate' | 'scorer' | 'silhouette'> = {},
): Promise<RejectionResult[]> {
  const r = await openRun(runDir);
  try {
    const sets = await knownSets(r);
    const other = await imageRows(r, files);
    const silhouette = silhouetteFitInput({ train: sets.train.images, val: sets.val.images }, opts.silhouette !== false, sets.trainGroups);
    const shapes = { other: studyShapes(other.images, opts), known: studyShapes(sets.test.images, opts) };
    return (opts.methods ?? OOD_METHODS).map((method) => {
      const det = fitStudyDetector(sets, r.classes, method, silhouette, opts);
      const s = det.scorer.scoreRows(other.rows);
      const sk = det.scorer.scoreRows(sets.test.rows);
      const v = oodVerdicts(det, other.rows, other.images, shapes.other);
      const rejected = v.accepted.filter((a) => !a).length;
      return {
        method,
        detector: detectorMethod(det),
        n: other.rows.n,
        rejected,
        rejectionRate: rejected / other.rows.n,
        threshold: det.threshold,
        knownAccepted: share(oodVerdicts(det, sets.test.rows, sets.test.images, shapes.known).accepted, true),
        aurocVsTest: aurocKnownVsUnknown(sk, s),
        ...(det.silhouette && v.silhouetteAccepted ? { silhouette: { threshold: det.silhouette.threshold, rejected: v.silhouetteAccepted.filter((a) => !a).length } } : {}),
      };
    });
  } finally {
    r.fl.dispose();
    disposeClassifier(r.classifier);
  }
}

/** Markdown table of a study: one row per method, means over rotations, per-rotation near AUROC. */
export function formatOodStudy(result: OodStudyResult): string {
  const p = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '—');
  const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(0)}%` : '—');
  const n = result.rotations[0]?.n;
  const lines = [
    `${result.arch}, ${result.rotations.length} rotation(s)` +
      (n ? `; per rotation ${n.train} train, ${n.val} val, ${n.testKnown} known test, ${n.near} near unknowns, ${n.far} far-OOD images` : ''),
    '',
    'AUROC, FPR95 and AURC on the feature score; accepted / rejected by the detector fitted on val (unknown when any part rejects).',
    '',
    '| detector | AUROC near (per rotation) | AUROC far | FPR95 near | FPR95 far | known accepted | near rejected | far rejected | acc. on accepted | AURC |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const s of result.summary) {
    const per = result.rotations.map((r) => p(r.methods.find((m) => m.method === s.method)?.aurocNear ?? NaN)).join(', ');
    lines.push(
      `| ${(s.detectors ?? [s.method]).join(' / ')}${s.method === result.recommended ? ' (best)' : ''} | ${p(s.meanAurocNear)} (${per}) | ${p(s.meanAurocFar)} | ${pct(s.meanFpr95Near)} | ${pct(s.meanFpr95Far)} | ${pct(s.meanKnownAccepted)} | ${pct(s.meanNearRejected)} | ${pct(s.meanFarRejected)} | ${pct(s.meanSelectiveAccuracy)} | ${p(s.meanAurc)} |`,
    );
  }
  return lines.join('\n');
}
