/**
 * The OOD measurement protocol, run programmatically:
 *  (a) leave-classes-out: for each rotation, train on the dataset without a pair of classes (or
 *      reuse a run trained that way); the left-out classes' photos are the "near" unknowns;
 *  (b) far-OOD: generated images (far-ood.ts) and blurred / very dark versions of test photos.
 * For each method the scorer is fitted on the run's train features, the threshold on its val
 * split at `acceptRate` (never on test or unknowns), and temperature scaling on val logits; known
 * photos for the metrics are the test split of the kept classes.
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
  fitDetector,
  loadClassifier,
  OOD_METHODS,
  type Classifier,
  type FeatureAndLogitModel,
  type FeaturesAndLogits,
  type FitData,
  type OodMethod,
  type ScorerOptions,
} from '@parts/models';
import { train, type TrainOptions } from '@parts/train';
import { makeHoldoutDataset } from './ood-holdout';
import { acceptedShare, aurocKnownVsUnknown, fprAtKnownRate, riskCoverage, selectiveAccuracy } from './ood-metrics';

export interface OodMethodResult {
  method: OodMethod;
  /** Known (test) vs left-out classes' photos. */
  aurocNear: number;
  /** Known (test) vs generated / degraded images. */
  aurocFar: number;
  /** Unknowns accepted when 95% of the known TEST photos are (oracle threshold, comparable across methods). */
  fpr95Near: number;
  fpr95Far: number;
  /** At the threshold fitted on val: share of known test photos accepted, unknowns rejected. */
  knownAccepted: number;
  nearRejected: number;
  farRejected: number;
  /** Accuracy on accepted known test photos and their share (coverage). */
  selectiveAccuracy: number;
  coverage: number;
  /** Area under the risk–coverage curve of the known test photos (lower is better). */
  aurc: number;
  threshold: number;
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
  log?: (m: string) => void;
}

interface RunSplits {
  classifier: Classifier;
  fl: FeatureAndLogitModel;
  classes: string[];
  splits: Record<'train' | 'val' | 'test', Sample[]>;
}

/** Loads a run's model and re-lists its dataset with the run's own split options (seed, valSplit). */
async function openRun(runDir: string): Promise<RunSplits> {
  const config = JSON.parse(await readFile(path.join(runDir, 'config.json'), 'utf8')) as {
    options: { seed: number; valSplit: number };
    data: { root: string; classes: string[]; counts: Record<string, number[]> };
  };
  const index = await listDataset(config.data.root, { valSplit: config.options.valSplit, seed: config.options.seed, validate: false });
  for (const s of ['train', 'val', 'test'] as const) {
    const counts = index.classes.map((_, c) => index.splits[s].filter((x) => x.label === c).length);
    if (counts.join() !== config.data.counts[s].join()) {
      throw new Error(`${runDir}: the ${s} split of ${config.data.root} has counts [${counts}] now, the run had [${config.data.counts[s]}]`);
    }
  }
  const classifier = await loadClassifier(runDir);
  return { classifier, fl: featureAndLogitModel(classifier.model), classes: index.classes, splits: index.splits };
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

/** Features/logits of the run's train, val and test photos. */
async function knownRows(r: RunSplits) {
  const rows = async (s: Sample[]) => computeFeaturesAndLogits(r.fl, await decodeAll(s.map((x) => x.file), r.classifier), r.classifier.meta);
  return {
    train: fitData(await rows(r.splits.train), r.splits.train.map((s) => s.label)),
    val: fitData(await rows(r.splits.val), r.splits.val.map((s) => s.label)),
    test: fitData(await rows(r.splits.test), r.splits.test.map((s) => s.label)),
  };
}

/** Evaluates every method on one trained run with given near-unknown photos. */
export async function evaluateOodRun(
  runDir: string,
  nearFiles: string[],
  opts: Pick<OodStudyOptions, 'methods' | 'acceptRate' | 'scorer' | 'farPerKind'> = {},
): Promise<Omit<OodRotationResult, 'key' | 'leftOut' | 'kept'>> {
  const r = await openRun(runDir);
  try {
    const { train: tr, val, test } = await knownRows(r);
    const near = await computeFeaturesAndLogits(r.fl, await decodeAll(nearFiles, r.classifier), r.classifier.meta);
    const size = r.classifier.meta.imgSize;
    const perKind = opts.farPerKind ?? 4;
    const testImages = await decodeAll(r.splits.test.slice(0, 2 * perKind).map((s) => s.file), r.classifier);
    const farImages = [
      ...farOodSet(size, perKind, 1).map((s) => s.image),
      ...(await Promise.all(testImages.map((im) => blurredPhoto(im)))),
      ...testImages.map((im) => darkenedPhoto(im)),
    ];
    const far = await computeFeaturesAndLogits(r.fl, farImages, r.classifier.meta);
    const pred = argmaxRows(test);
    const correct = pred.map((p, i) => p === test.labels[i]);
    const methods: OodMethodResult[] = [];
    let temperature = 1;
    let nllVal = { before: NaN, after: NaN };
    for (const method of opts.methods ?? OOD_METHODS) {
      const det = fitDetector(tr, val, r.classes, { ...opts.scorer, method, acceptRate: opts.acceptRate });
      temperature = det.temperature;
      nllVal = { before: det.calibration!.nllBefore, after: det.calibration!.nllAfter };
      const sKnown = det.scorer.scoreRows(test);
      const sNear = det.scorer.scoreRows(near);
      const sFar = det.scorer.scoreRows(far);
      const sel = selectiveAccuracy(sKnown, correct, det.threshold);
      methods.push({
        method,
        aurocNear: aurocKnownVsUnknown(sKnown, sNear),
        aurocFar: aurocKnownVsUnknown(sKnown, sFar),
        fpr95Near: fprAtKnownRate(sKnown, sNear).fpr,
        fpr95Far: fprAtKnownRate(sKnown, sFar).fpr,
        knownAccepted: acceptedShare(sKnown, det.threshold),
        nearRejected: 1 - acceptedShare(sNear, det.threshold),
        farRejected: 1 - acceptedShare(sFar, det.threshold),
        selectiveAccuracy: sel.accuracy,
        coverage: sel.coverage,
        aurc: riskCoverage(sKnown, correct).aurc,
        threshold: det.threshold,
      });
    }
    return {
      runDir,
      n: { train: tr.n, val: val.n, testKnown: test.n, near: near.n, far: far.n },
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
  return { arch, acceptRate: opts.acceptRate ?? 0.95, rotations, summary, recommended };
}

export function summarise(rotations: OodRotationResult[]): OodStudySummaryRow[] {
  const methods = [...new Set(rotations.flatMap((r) => r.methods.map((m) => m.method)))];
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return methods.map((method) => {
    const ms = rotations.map((r) => r.methods.find((m) => m.method === method)!).filter(Boolean);
    const f = (k: keyof OodMethodResult) => mean(ms.map((m) => m[k] as number));
    return {
      method,
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
  n: number;
  rejected: number;
  rejectionRate: number;
  threshold: number;
  /** Known test photos accepted at the same threshold. */
  knownAccepted: number;
  aurocVsTest: number;
}

/**
 * Rejection rate of `files` (photos of something the run was not trained on) per method at the
 * threshold fitted on the run's val split at `acceptRate`.
 */
export async function measureRejection(
  runDir: string,
  files: string[],
  opts: Pick<OodStudyOptions, 'methods' | 'acceptRate' | 'scorer'> = {},
): Promise<RejectionResult[]> {
  const r = await openRun(runDir);
  try {
    const { train: tr, val, test } = await knownRows(r);
    const other = await computeFeaturesAndLogits(r.fl, await decodeAll(files, r.classifier), r.classifier.meta);
    return (opts.methods ?? OOD_METHODS).map((method) => {
      const det = fitDetector(tr, val, r.classes, { ...opts.scorer, method, acceptRate: opts.acceptRate });
      const s = det.scorer.scoreRows(other);
      const sk = det.scorer.scoreRows(test);
      const rejected = s.filter((v) => !(v >= det.threshold)).length;
      return {
        method,
        n: other.n,
        rejected,
        rejectionRate: rejected / other.n,
        threshold: det.threshold,
        knownAccepted: acceptedShare(sk, det.threshold),
        aurocVsTest: aurocKnownVsUnknown(sk, s),
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
    '| method | AUROC near (per rotation) | AUROC far | FPR95 near | FPR95 far | known accepted @val thr | near rejected | far rejected | acc. on accepted | AURC |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const s of result.summary) {
    const per = result.rotations.map((r) => p(r.methods.find((m) => m.method === s.method)?.aurocNear ?? NaN)).join(', ');
    lines.push(
      `| ${s.method}${s.method === result.recommended ? ' (best)' : ''} | ${p(s.meanAurocNear)} (${per}) | ${p(s.meanAurocFar)} | ${pct(s.meanFpr95Near)} | ${pct(s.meanFpr95Far)} | ${pct(s.meanKnownAccepted)} | ${pct(s.meanNearRejected)} | ${pct(s.meanFarRejected)} | ${pct(s.meanSelectiveAccuracy)} | ${p(s.meanAurc)} |`,
    );
  }
  return lines.join('\n');
}
