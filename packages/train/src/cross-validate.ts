// `pnpm train --folds K`: stratified K-fold cross-validation on the train split, for model selection
// that never looks at the test split. Each fold is an ordinary train() run with `fold` set.
import path from 'node:path';
import { train, defaultRunsDir } from './train';
import { resolveTrainOptions, type ResolvedTrainOptions, type TrainOptions } from './options';
import { createRunFolder, discardRunFolder, finalizeRunFolder, RUN_FILES, writeRunJson } from './run-folder';
import { wilson95 } from './wilson';

export interface CvFoldResult {
  /** 1-based fold number: the fold this run validated on. */
  k: number;
  /** The fold run's folder (absolute in CvResult; relative to the cv folder in cv.json). */
  runDir: string;
  valN: number;
  valCorrect: number;
  valAccuracy: number;
  valLoss: number;
  bestEpoch: number;
  epochsRun: number;
  trainTimeMs: number;
  /** With averaged weights (--average-epochs): what the best epoch's weights scored on the fold. */
  bestEpochCorrect?: number;
}

export interface CvResult {
  /** runs/<timestamp>-<arch>-<mode>[-<name>]-cv<K>/ holding cv.json and the fold runs. */
  cvDir: string;
  folds: CvFoldResult[];
  /** All held-out predictions together: every train sample is validated exactly once. */
  pooled: { n: number; correct: number; accuracy: number; wilson95: { low: number; high: number } };
  /** Mean and sample standard deviation (K−1) of the per-fold accuracies. */
  meanAccuracy: number;
  std: number;
  options: ResolvedTrainOptions & { folds: number };
}

export type CrossValidateOptions = Omit<TrainOptions, 'fold'> & { folds: number };

/**
 * Trains one run per fold (sequentially, same options and seed; the seed also fixes the folds) and
 * writes cv.json. The cv folder is built as <out>/.tmp-<name> and renamed when every fold is done,
 * so an interrupted cross-validation leaves no folder that looks complete.
 */
export async function crossValidate(opts: CrossValidateOptions): Promise<CvResult> {
  const { folds, ...rest } = opts;
  if (!Number.isInteger(folds) || folds < 2) throw new RangeError(`--folds must be an integer >= 2 (got ${folds})`);
  // Resolve (and validate) once up front so a bad option fails before any training.
  const o = resolveTrainOptions({ ...rest, fold: { k: 1, folds } }, defaultRunsDir());
  const write = opts.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const log = (m: string) => {
    if (!o.quiet) write(m);
  };
  const cv = await createRunFolder(o.out, o.arch, o.mode, [o.name, `cv${folds}`].filter(Boolean).join('-'));
  try {
    const results: CvFoldResult[] = [];
    for (let k = 1; k <= folds; k++) {
      log(`cross-validation: fold ${k}/${folds}`);
      const r = await train({ ...rest, out: cv.tmpDir, name: `fold${k}`, fold: { k, folds } });
      const v = r.metrics.val;
      if (!v) throw new Error(`fold ${k}/${folds}: the run has no validation metrics (${r.runDir})`);
      results.push({
        k,
        runDir: path.relative(cv.tmpDir, r.runDir),
        valN: v.n,
        valCorrect: v.correct,
        valAccuracy: v.accuracy,
        valLoss: v.loss,
        bestEpoch: r.metrics.bestEpoch,
        epochsRun: r.metrics.epochsRun,
        trainTimeMs: r.metrics.trainTimeMs,
        ...(r.metrics.averaged?.bestEpochVal ? { bestEpochCorrect: r.metrics.averaged.bestEpochVal.correct } : {}),
      });
    }
    const summary = summarize(results);
    const { fold: _fold, ...resolved } = o;
    const options = { ...resolved, folds };
    await writeRunJson(cv, RUN_FILES.cv, { cvId: cv.runId, createdAt: new Date().toISOString(), folds: results, ...summary, options });
    const cvDir = await finalizeRunFolder(cv);
    return { cvDir, folds: results.map((f) => ({ ...f, runDir: path.join(cvDir, f.runDir) })), ...summary, options };
  } catch (e) {
    await discardRunFolder(cv);
    throw e;
  }
}

/** Pooled counts (sum over folds) with a Wilson interval, and the mean/std of fold accuracies. */
export function summarize(folds: readonly Pick<CvFoldResult, 'valN' | 'valCorrect' | 'valAccuracy'>[]) {
  const n = folds.reduce((s, f) => s + f.valN, 0);
  const correct = folds.reduce((s, f) => s + f.valCorrect, 0);
  const accs = folds.map((f) => f.valAccuracy);
  const meanAccuracy = accs.reduce((s, a) => s + a, 0) / (accs.length || 1);
  const std = accs.length > 1 ? Math.sqrt(accs.reduce((s, a) => s + (a - meanAccuracy) ** 2, 0) / (accs.length - 1)) : 0;
  return { pooled: { n, correct, accuracy: n ? correct / n : 0, wilson95: wilson95(correct, n) }, meanAccuracy, std };
}

/** One line per fold, then the pooled accuracy with its interval (what `pnpm train --folds` prints). */
export function formatCvResult(r: CvResult): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const K = r.folds.length;
  const lines = r.folds.map(
    (f) => `fold ${f.k}/${K}: val ${f.valCorrect}/${f.valN} = ${pct(f.valAccuracy)}, loss ${f.valLoss.toFixed(4)}, best epoch ${f.bestEpoch}  ${f.runDir}`,
  );
  const p = r.pooled;
  if (r.folds.every((f) => f.bestEpochCorrect !== undefined)) {
    const best = r.folds.reduce((s, f) => s + f.bestEpochCorrect!, 0);
    lines.push(`(averaged weights; the best epoch's weights would have scored ${best}/${p.n} = ${pct(best / p.n)})`);
  }
  lines.push(
    `CV accuracy (pooled, ${K} folds): ${p.correct}/${p.n} = ${pct(p.accuracy)} [95% Wilson ${pct(p.wilson95.low)}–${pct(p.wilson95.high)}]; ` +
      `per-fold mean ${pct(r.meanAccuracy)} ± ${pct(r.std)} (sd)`,
  );
  return lines.join('\n');
}
