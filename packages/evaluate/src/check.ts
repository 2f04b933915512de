// The CI accuracy gate: a run fails when its test accuracy is below the committed baseline by more
// than one test image (tolerance 1/n), so a single photo flipping does not break the build but a
// real regression does.
//
// Baseline file (default <repo>/evaluation/baseline.json):
//   {
//     "format": "parts-baseline/1",
//     "tasks": {
//       "parts": { "arch": "tinyvgg", "mode": "scratch", "dataset": "parts", "accuracy": 0.857, "n": 21 },
//       "bolts-nuts": { "arch": "tinyvgg", "accuracy": 0.7, "n": 40, "required": false }
//     }
//   }
// A run belongs to a task when its architecture (aliases allowed) and, if given, mode match, and the
// last folder name of the dataset it was evaluated on equals `dataset` (default: the task's key).
// `n` is the number of test images the baseline was measured on (informational; the tolerance uses
// the run's own n). `required: true` makes a task with no matching run a failure.
// Only evaluations of a run's own test split on its training dataset are judged (evaluation.json);
// an evaluation of another split or dataset is listed as ignored, never compared with the baseline.
import path from 'node:path';
import { readJson } from './fsutil';
import { canonicalArch } from './leaderboard';
import { describeEvaluationScope, isOwnTestEvaluation } from './evaluation-record';
import type { Evaluation } from './evaluation-record';
import { validateOodTasks, type OodBaselineTask } from './ood-check';
import { validateSubsetSpec, type SubsetSpec } from './subset-dataset';

export const BASELINE_FORMAT = 'parts-baseline/1';

/** Half a unit of the 4th decimal, the precision baseline accuracies are written with. */
export const BASELINE_ROUNDING = 5e-5;

export interface BaselineTask {
  arch: string;
  mode?: string;
  dataset?: string;
  accuracy: number;
  n?: number;
  required?: boolean;
  /**
   * Seeds the gate trains the task with; `accuracy` is then the mean over them. One seeded run of a
   * from-scratch model on a few dozen photos moves by several test images when only the float rounding
   * of a kernel changes; the mean of several runs does not, so a real regression still shows.
   */
  seeds?: number[];
  /**
   * Train and score on a seeded subset of the dataset (subset-dataset.ts): a set too large to train in
   * CI on two cores is gated on `trainPerClass` photos per class, scored on `testPerClass` per class
   * (absent: the whole test split).
   */
  subset?: SubsetSpec;
}

export interface Baseline {
  format?: string;
  tasks: Record<string, BaselineTask>;
  /** Leave-classes-out figures (see ood-check.ts). */
  ood?: Record<string, OodBaselineTask>;
}

export interface CheckLine {
  task: string;
  runId: string | null;
  pass: boolean;
  accuracy?: number;
  correct?: number;
  n?: number;
  baseline: number;
  /** baseline - 1/n: the lowest accuracy that passes. */
  threshold?: number;
  message: string;
}

export interface CheckResult {
  ok: boolean;
  lines: CheckLine[];
  /** Evaluations left out because they are not of the run's own test split, with why. */
  ignored: { runId: string; message: string }[];
}

export async function readBaseline(file: string): Promise<Baseline> {
  const b = await readJson<Baseline>(file);
  validateBaseline(b, file);
  return b;
}

export function validateBaseline(b: Baseline, where = 'baseline'): void {
  const problems: string[] = [];
  if (b.format !== undefined && b.format !== BASELINE_FORMAT) problems.push(`format must be '${BASELINE_FORMAT}' (got ${JSON.stringify(b.format)})`);
  if (!b.tasks || typeof b.tasks !== 'object' || Object.keys(b.tasks).length === 0) problems.push('"tasks" must be an object with at least one task');
  for (const [name, t] of Object.entries(b.tasks ?? {})) {
    if (typeof t?.arch !== 'string' || !t.arch) problems.push(`tasks.${name}.arch must be a string`);
    if (typeof t?.accuracy !== 'number' || !(t.accuracy >= 0 && t.accuracy <= 1)) problems.push(`tasks.${name}.accuracy must be a number in [0, 1] (got ${JSON.stringify(t?.accuracy)})`);
    if (t?.n !== undefined && !(Number.isInteger(t.n) && t.n > 0)) problems.push(`tasks.${name}.n must be a positive integer`);
    if (t?.seeds !== undefined && !(Array.isArray(t.seeds) && t.seeds.length > 0 && t.seeds.every((x) => Number.isInteger(x)) && new Set(t.seeds).size === t.seeds.length)) {
      problems.push(`tasks.${name}.seeds must be a non-empty list of distinct integers (got ${JSON.stringify(t.seeds)})`);
    }
    if (t?.subset !== undefined) problems.push(...validateSubsetSpec(t.subset, `tasks.${name}.subset`));
  }
  if (problems.length) throw new Error(`invalid baseline ${where}: ${problems.join('; ')}`);
  validateOodTasks(b.ood, where);
}

export function runMatchesTask(e: Pick<Evaluation, 'arch' | 'mode' | 'data'>, name: string, t: BaselineTask): boolean {
  if (canonicalArch(e.arch) !== canonicalArch(t.arch)) return false;
  if (t.mode && e.mode !== t.mode) return false;
  return path.basename(path.resolve(e.data.root)) === (t.dataset ?? name);
}

/**
 * The gate's one rule: `accuracy` passes when it is at most one test image (1/n, n = one run's test
 * images) below `baseline`. `minCorrect` is the fewest right answers out of `total` that pass.
 */
export function judge(baseline: number, accuracy: number, n: number, total: number): { tolerance: number; threshold: number; pass: boolean; minCorrect: number } {
  const tolerance = 1 / n;
  const threshold = baseline - tolerance;
  // Baselines are written to 4 decimals (13/14 as 0.9286): half a unit of the last decimal keeps
  // "exactly one test image below" on the passing side.
  const pass = accuracy >= threshold - BASELINE_ROUNDING;
  const minCorrect = Math.max(0, Math.ceil((threshold - BASELINE_ROUNDING) * total - 1e-9));
  return { tolerance, threshold, pass, minCorrect };
}

/**
 * Checks evaluations against the baseline. With latestOnly (the default for a whole runs folder),
 * each task is judged on its most recent matching run, so old experiments lying in runs/ do not
 * decide today's build.
 */
export function checkAgainstBaseline(evaluations: Evaluation[], baseline: Baseline, opts: { latestOnly?: boolean } = {}): CheckResult {
  validateBaseline(baseline);
  const lines: CheckLine[] = [];
  const ignored = evaluations
    .filter((e) => !isOwnTestEvaluation(e))
    .map((e) => ({ runId: e.runId, message: `ignored ${e.runId}: evaluated on ${describeEvaluationScope(e)}; the baseline is about a run's own test split` }));
  const judged = evaluations.filter(isOwnTestEvaluation);
  for (const [name, task] of Object.entries(baseline.tasks)) {
    let matching = judged.filter((e) => runMatchesTask(e, name, task));
    if (opts.latestOnly && matching.length > 1) matching = [[...matching].sort((a, b) => a.runId.localeCompare(b.runId)).at(-1)!];
    if (matching.length === 0) {
      lines.push({
        task: name,
        runId: null,
        pass: !task.required,
        baseline: task.accuracy,
        message: `${task.required ? 'FAIL' : 'skip'} ${name}: no evaluated ${task.arch}${task.mode ? ' ' + task.mode : ''} run on a dataset named '${task.dataset ?? name}'`,
      });
      continue;
    }
    for (const e of matching) {
      const { tolerance, threshold, pass, minCorrect } = judge(task.accuracy, e.accuracy, e.n, e.n);
      const nNote = task.n !== undefined && task.n !== e.n ? ` (baseline measured on ${task.n} images)` : '';
      const message =
        `${pass ? 'ok  ' : 'FAIL'} ${name}: ${e.runId} accuracy ${fmt(e.accuracy)} (${e.correct}/${e.n}) ${pass ? '>=' : '<'} ` +
        `baseline ${fmt(task.accuracy)} minus one test image (1/${e.n} = ${fmt(tolerance)}) = ${fmt(threshold)}, i.e. at least ${minCorrect}/${e.n} right${nNote}`;
      lines.push({ task: name, runId: e.runId, pass, accuracy: e.accuracy, correct: e.correct, n: e.n, baseline: task.accuracy, threshold, message });
    }
  }
  return { ok: lines.every((l) => l.pass), lines, ignored };
}

function fmt(x: number): string {
  return x.toFixed(4);
}

/**
 * The gate for a task with `seeds`: the mean test accuracy of one evaluated run per seed against the
 * baseline (itself a mean over the same seeds) minus one test image (1/n of one run's test split).
 */
export function checkSeedMean(name: string, task: BaselineTask, evaluations: readonly Pick<Evaluation, 'runId' | 'accuracy' | 'correct' | 'n'>[]): CheckLine {
  const seeds = task.seeds ?? [];
  if (evaluations.length !== seeds.length || evaluations.length === 0) {
    throw new Error(`checkSeedMean ${name}: ${evaluations.length} evaluations for ${seeds.length} seeds`);
  }
  const n = evaluations[0]!.n;
  if (evaluations.some((e) => e.n !== n)) throw new Error(`checkSeedMean ${name}: the runs were evaluated on test splits of different sizes`);
  const correct = evaluations.reduce((a, e) => a + e.correct, 0);
  const total = n * evaluations.length;
  const accuracy = correct / total;
  const { tolerance, threshold, pass, minCorrect } = judge(task.accuracy, accuracy, n, total);
  const perSeed = evaluations.map((e, i) => `${seeds[i]}: ${e.correct}/${e.n}`).join(', ');
  const message =
    `${pass ? 'ok  ' : 'FAIL'} ${name}: mean accuracy over seeds ${fmt(accuracy)} (${correct}/${total}; ${perSeed}) ${pass ? '>=' : '<'} ` +
    `baseline ${fmt(task.accuracy)} minus one test image (1/${n} = ${fmt(tolerance)}) = ${fmt(threshold)}, i.e. at least ${minCorrect}/${total} right`;
  return { task: name, runId: evaluations.map((e) => e.runId).join(','), pass, accuracy, correct, n: total, baseline: task.accuracy, threshold, message };
}
