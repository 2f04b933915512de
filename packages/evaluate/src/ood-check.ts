// The leave-classes-out figure of the CI gate: a model trained on a dataset without some classes
// should score the left-out classes' photos as unknown. Recorded in evaluation/baseline.json under
// `ood`, one entry per rotation:
//   "ood": {
//     "bolts-nuts-leave-out": {
//       "dataset": "bolts-nuts", "arch": "partsnet", "leaveOut": ["M12_nut", "M5_bolt"], "method": "knn",
//       "train": { "seed": 42, "epochs": 20, "backend": "wasm" },
//       "auroc": 0.9, "rejection": 0.6, "n": 56,
//       "margin": { "auroc": 0.05, "rejection": 0.1 }
//     }
//   }
// `auroc`: known test photos vs the left-out classes' photos (all splits); `rejection`: share of the
// left-out photos the detector fitted on the validation split at 95% accepted rejects, fitted as
// training fits the ood.json it stores (`method` plus the silhouette part when training would add
// one) and applied as predict and serve apply it (unknown when any part rejects). AUROC is on the
// feature score. A run fails when either falls below its baseline minus its margin.
// A task with `seeds` ("seeds": [42, 1, 2, ...]) is trained once per seed and judged on the mean of
// each figure over them, against a baseline that is itself the mean over the same seeds: one seeded
// run of this check moves by more than the margins when only the kernels' float rounding changes
// (see evaluation/baseline.json's `about`), a mean over several runs much less.
import path from 'node:path';
import { LIGHT_NORM_NAMES } from '@parts/cli';
import { isOodMethod, type OodMethod } from '@parts/models';
import { readRunConfig } from '@parts/train';
import { makeHoldoutDataset } from './ood-holdout';
import { evaluateOodRun } from './ood-study';

export interface OodBaselineTask {
  dataset: string;
  arch: string;
  leaveOut: string[];
  method: OodMethod;
  train?: Record<string, unknown>;
  auroc: number;
  rejection: number;
  /** Left-out photos the figures were measured on. */
  n?: number;
  /** Train once per seed and judge the mean figures (`auroc`, `rejection` are means over them). */
  seeds?: number[];
  margin: { auroc: number; rejection: number };
  /**
   * The light normalisation the figures were measured with (the data recipe's choice for this
   * dataset); a run trained with another one is not this task's run (its figures differ by design).
   */
  lightNorm?: string;
}

export interface OodFigures {
  runId: string;
  /** The detector measured, as predict and serve name it (e.g. `knn+silhouette`). */
  detector?: string;
  auroc: number;
  rejection: number;
  n: number;
  knownAccepted: number;
  threshold: number;
}

export interface OodCheckLine {
  task: string;
  runId: string | null;
  pass: boolean;
  figures?: OodFigures;
  message: string;
}

/** Checks the `ood` section of a baseline, naming each bad field. */
export function validateOodTasks(ood: unknown, where = 'baseline'): Record<string, OodBaselineTask> {
  if (ood === undefined) return {};
  const problems: string[] = [];
  if (!ood || typeof ood !== 'object') throw new Error(`invalid baseline ${where}: "ood" must be an object`);
  const unit = (x: unknown) => typeof x === 'number' && x >= 0 && x <= 1;
  for (const [name, t] of Object.entries(ood as Record<string, Partial<OodBaselineTask>>)) {
    const f = `ood.${name}`;
    if (typeof t?.dataset !== 'string' || !t.dataset) problems.push(`${f}.dataset must be a folder name`);
    if (typeof t?.arch !== 'string' || !t.arch) problems.push(`${f}.arch must be a string`);
    if (!Array.isArray(t?.leaveOut) || t.leaveOut.length === 0 || !t.leaveOut.every((c) => typeof c === 'string')) problems.push(`${f}.leaveOut must list class names`);
    if (!isOodMethod(t?.method)) problems.push(`${f}.method must be msp, energy, mahalanobis or knn (got ${JSON.stringify(t?.method)})`);
    if (!unit(t?.auroc)) problems.push(`${f}.auroc must be a number in [0, 1]`);
    if (!unit(t?.rejection)) problems.push(`${f}.rejection must be a number in [0, 1]`);
    if (!unit(t?.margin?.auroc) || !unit(t?.margin?.rejection)) problems.push(`${f}.margin must be {auroc, rejection}, each in [0, 1]`);
    if (t?.seeds !== undefined && !(Array.isArray(t.seeds) && t.seeds.length > 0 && t.seeds.every((x) => Number.isInteger(x)) && new Set(t.seeds).size === t.seeds.length)) {
      problems.push(`${f}.seeds must be a non-empty list of distinct integers (got ${JSON.stringify(t.seeds)})`);
    }
    if (t?.lightNorm !== undefined && !(LIGHT_NORM_NAMES as readonly unknown[]).includes(t.lightNorm)) {
      problems.push(`${f}.lightNorm must be one of ${LIGHT_NORM_NAMES.join(', ')} (got ${JSON.stringify(t.lightNorm)})`);
    }
  }
  if (problems.length) throw new Error(`invalid baseline ${where}: ${problems.join('; ')}`);
  return ood as Record<string, OodBaselineTask>;
}

/**
 * The figures of a run trained on `source` without `task.leaveOut`: AUROC known test vs left-out
 * photos (feature score) and the left-out photos the detector rejects (task.method with the
 * silhouette part as training fits it, set on the validation photos for 95% of known photos accepted).
 */
export async function measureLeaveOut(runDir: string, task: OodBaselineTask, source: string, workDir: string): Promise<OodFigures> {
  const holdout = await makeHoldoutDataset(source, task.leaveOut, workDir);
  const r = await evaluateOodRun(runDir, holdout.unknownFiles.map((u) => u.file), { methods: [task.method], farPerKind: 1 });
  const m = r.methods[0];
  return { runId: path.basename(runDir), detector: m.detector, auroc: m.aurocNear, rejection: m.nearRejected, n: r.n.near, knownAccepted: m.knownAccepted, threshold: m.threshold };
}

/** Pass when both figures are at least their baseline minus the margin. */
export function checkOodFigures(name: string, task: OodBaselineTask, f: OodFigures): OodCheckLine {
  const minAuroc = task.auroc - task.margin.auroc;
  const minRejection = task.rejection - task.margin.rejection;
  const pass = f.auroc >= minAuroc - 1e-9 && f.rejection >= minRejection - 1e-9;
  const p = (x: number) => x.toFixed(3);
  const message =
    `${pass ? 'ok  ' : 'FAIL'} ${name}: ${f.runId} left out ${task.leaveOut.join('+')} (${f.n} photos, ${f.detector ?? task.method}): ` +
    `AUROC ${p(f.auroc)} ${f.auroc >= minAuroc - 1e-9 ? '>=' : '<'} ${p(task.auroc)} - ${p(task.margin.auroc)} = ${p(minAuroc)}; ` +
    `rejected ${p(f.rejection)} ${f.rejection >= minRejection - 1e-9 ? '>=' : '<'} ${p(task.rejection)} - ${p(task.margin.rejection)} = ${p(minRejection)} ` +
    `(known test photos accepted ${p(f.knownAccepted)})`;
  return { task: name, runId: f.runId, pass, figures: f, message };
}

/**
 * The check of a task with `seeds`: one run per seed (in the order of `task.seeds`), the mean AUROC
 * and the mean rejection over them against the baseline's means minus the margins.
 */
export function checkOodSeedMean(name: string, task: OodBaselineTask, figures: readonly OodFigures[]): OodCheckLine {
  const seeds = task.seeds ?? [];
  if (figures.length === 0 || figures.length !== seeds.length) throw new Error(`checkOodSeedMean ${name}: ${figures.length} runs for ${seeds.length} seeds`);
  const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
  const auroc = mean(figures.map((f) => f.auroc)), rejection = mean(figures.map((f) => f.rejection));
  const minAuroc = task.auroc - task.margin.auroc;
  const minRejection = task.rejection - task.margin.rejection;
  const aurocOk = auroc >= minAuroc - 1e-9, rejectionOk = rejection >= minRejection - 1e-9;
  const p = (x: number) => x.toFixed(3);
  const perSeed = figures.map((f, i) => `${seeds[i]}: ${p(f.auroc)}/${p(f.rejection)}`).join(', ');
  const message =
    `${aurocOk && rejectionOk ? 'ok  ' : 'FAIL'} ${name}: left out ${task.leaveOut.join('+')} (${figures[0]!.n} photos, ${figures[0]!.detector ?? task.method}), mean over seeds: ` +
    `AUROC ${p(auroc)} ${aurocOk ? '>=' : '<'} ${p(task.auroc)} - ${p(task.margin.auroc)} = ${p(minAuroc)}; ` +
    `rejected ${p(rejection)} ${rejectionOk ? '>=' : '<'} ${p(task.rejection)} - ${p(task.margin.rejection)} = ${p(minRejection)} ` +
    `(seed: AUROC/rejected ${perSeed})`;
  return { task: name, runId: figures.map((f) => f.runId).join(','), pass: aurocOk && rejectionOk, figures: { ...figures[0]!, runId: figures.map((f) => f.runId).join(','), auroc, rejection }, message };
}

/**
 * Whether a run was trained for this task: same architecture, its classes are the dataset's
 * without the left-out ones (config.json data.classes; dataset root may be a symlink folder), and
 * the task's light normalisation when it names one.
 */
export async function runMatchesOodTask(runDir: string, task: OodBaselineTask, sourceClasses: string[]): Promise<boolean> {
  const cfg = await readRunConfig(runDir).catch(() => undefined);
  const kept = sourceClasses.filter((c) => !task.leaveOut.includes(c));
  const light = cfg?.options?.lightNorm ?? 'none';
  return cfg?.arch === task.arch && (cfg.data?.classes ?? []).join('\n') === kept.join('\n') && (task.lightNorm === undefined || light === task.lightNorm);
}
