// Promotion: put one run's model into service (packages/serve/model/) with a model card, keep the
// previous one in model.prev/ for rollback (and every promoted model in model.history/, see
// model-history.ts), and refuse a run that evaluates worse than the one in
// service unless forced.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { NEXT_STEP, servedModelDir } from '@parts/cli';
import { CLASSIFIER_JSON, readClassifierFile } from '@parts/models';
import { recordInRegistry } from '@parts/serve';
import { readRunConfig, RUN_FILES, runModelDir } from '@parts/train';
import { dirSize, exists, readJson, samePath, siblingTemp } from './fsutil';
import { describeEvaluationScope, EVALUATION_JSON, isOwnTestEvaluation, readEvaluation } from './evaluation-record';
import type { Evaluation } from './evaluation-record';
import { compareRuns, RANKING_RULE } from './leaderboard';
import { recordServedModel } from './model-history';
import { pickTestPhotos, recordModelParity } from './promotion-parity';
import type { ReportRun } from './leaderboard';
import type { Interval } from './metrics';

export const MODEL_CARD_JSON = 'model-card.json';
export const MODEL_CARD_FORMAT = 'parts-model-card/1';

export interface ModelCard {
  format: typeof MODEL_CARD_FORMAT;
  runId: string;
  arch: string;
  mode: string;
  labels: string[];
  preprocess: string;
  /** Square input side in pixels; the model takes [batch, imgSize, imgSize, 3] RGB. */
  imgSize: number;
  inputShape: [number, number, number];
  fit: string;
  outputActivation?: string;
  metrics: {
    split: string;
    dataRoot: string;
    n: number;
    correct: number;
    accuracy: number;
    accuracyInterval: Interval & { method: 'wilson'; level: 0.95 };
    balancedAccuracy: number;
    macro: { precision: number; recall: number; f1: number };
    rocAuc: number | null;
    logLoss: number;
    perClass: { label: string; support: number; precision: number; recall: number; f1: number }[];
  };
  data: { root?: string; fingerprint?: string; classes?: string[] };
  backend: { training?: unknown; evaluation: string };
  trainedAt?: string;
  evaluatedAt: string;
  promotedAt: string;
  modelBytes: number;
  /** The parity record written beside the model (parity.json): photos, backend, tolerance; null when not recorded. */
  parity?: { photos: number; backend: string; tolerance: number } | null;
  source: string;
  selectionRule: string;
  forced: boolean;
}

export interface PromoteOptions {
  /** Where the served model lives; default <repo>/packages/serve/model. model.prev sits beside it. */
  target?: string;
  /** Promote even when the run evaluates worse than the model in service. */
  force?: boolean;
  now?: Date;
  /**
   * Record parity (default true): classify a handful of the run's test photos with the staged model
   * (on the tfjs backend now active) and store them with their probabilities in the promoted folder,
   * so the server can prove it answers like the evaluated model. The test photos must be readable.
   */
  parity?: boolean;
  /** How many test photos the parity record takes (default PARITY_PHOTOS). */
  parityPhotos?: number;
  /**
   * The caller has already compared the run with the model in service on the same photos and
   * decided (retrain's paired comparison): the card comparison is skipped and this rule is recorded
   * as the card's selectionRule.
   */
  decidedBy?: string;
  /** A postgres:// URL: the promotion is also recorded in that database's model registry (servers with --db follow it). */
  db?: string;
}

export interface PromoteResult {
  promoted: boolean;
  /** What happened and why, for people. */
  message: string;
  target: string;
  card?: ModelCard;
  /** The card of the model that was in service before (now in model.prev), if any. */
  previous?: ModelCard | null;
}

export function prevDir(target: string): string {
  return `${path.resolve(target)}.prev`;
}

export async function readModelCard(dir: string): Promise<ModelCard | null> {
  const f = path.join(dir, MODEL_CARD_JSON);
  if (!(await exists(f))) return null;
  return readJson<ModelCard>(f);
}

/** Promotes a run using its evaluation.json (written by evaluateRun). */
export async function promoteRun(runDir: string, opts: PromoteOptions = {}): Promise<PromoteResult> {
  return promoteEvaluated(runDir, await readEvaluation(runDir), opts);
}

/**
 * Picks the best evaluated run by RANKING_RULE and promotes it. Only evaluations of a run's own
 * test split count; runs evaluated on another split or dataset are left out (and the message says so).
 */
export async function promoteBest(runs: ReportRun[], opts: PromoteOptions = {}): Promise<PromoteResult> {
  const evaluated = runs.filter((r) => r.status === 'ok' && r.evaluation && r.runDir);
  const ok = evaluated.filter((r) => isOwnTestEvaluation(r.evaluation!));
  const left = evaluated.length - ok.length;
  const leftNote = left ? `; ${left} run(s) evaluated on another split or dataset, or on their dataset changed since training, were not considered` : '';
  const target = path.resolve(opts.target ?? servedModelDir());
  if (evaluated.length === 0) return { promoted: false, message: 'nothing promoted: no run was evaluated successfully', target };
  if (ok.length === 0) {
    return {
      promoted: false,
      message: `nothing promoted: none of the ${left} evaluated run(s) was evaluated on its own test split (promotion uses only those; run pnpm evaluate without --split/--data, on the dataset folder as it was at training)`,
      target,
    };
  }
  // Runs trained (and so tested) on different datasets, or different tasks: ranking compares nothing.
  const sets = [...new Set(ok.map((r) => path.resolve(r.evaluation!.data.root)))];
  if (sets.length > 1) {
    return {
      promoted: false,
      message: `nothing promoted: the runs were evaluated on ${sets.length} different test sets (${sets.join(', ')}); promote one run with --run${leftNote}`,
      target,
    };
  }
  const best = [...ok].sort((a, b) => compareRuns(a.evaluation!, b.evaluation!))[0];
  const res = await promoteEvaluated(best.runDir!, best.evaluation!, { ...opts, target });
  return { ...res, message: res.message + leftNote };
}

/**
 * Promotes a run on the strength of `evaluation`, which must be of the run's own test split on the
 * dataset in its config.json (an error otherwise, with or without force: force only overrides the
 * comparison with the model in service).
 */
export async function promoteEvaluated(runDir: string, evaluation: Evaluation, opts: PromoteOptions = {}): Promise<PromoteResult> {
  const target = path.resolve(opts.target ?? servedModelDir());
  const modelDir = runModelDir(runDir);
  for (const f of ['model.json', CLASSIFIER_JSON]) {
    if (!(await exists(path.join(modelDir, f)))) throw new Error(`cannot promote ${runDir}: ${path.join(modelDir, f)} is missing`);
  }
  const config = await readRunConfig(runDir);
  const trainedOn = config?.data?.root;
  if (!isOwnTestEvaluation(evaluation) || (trainedOn && !(await samePath(trainedOn, evaluation.data.root)))) {
    throw new Error(
      `cannot promote ${runDir} on an evaluation of ${describeEvaluationScope(evaluation)}: promotion uses only the run's own ` +
        `test split${trainedOn ? ` of ${trainedOn}` : ''} (${EVALUATION_JSON}, written by pnpm evaluate without --split/--data)`,
    );
  }
  let current: ModelCard | null = null;
  try {
    current = await readModelCard(target);
  } catch (e) {
    if (!opts.force) throw new Error(`the model in service has an unreadable card (${(e as Error).message}); use --force to replace it`);
  }
  const desc = (e: { runId: string; balancedAccuracy: number; logLoss: number }) =>
    `${e.runId} (balanced accuracy ${(e.balancedAccuracy * 100).toFixed(1)}%, log loss ${e.logLoss.toFixed(3)})`;
  if (current && !opts.force && !opts.decidedBy) {
    const cur = { runId: current.runId, balancedAccuracy: current.metrics.balancedAccuracy, logLoss: current.metrics.logLoss, modelBytes: current.modelBytes };
    if (current.runId === evaluation.runId) {
      return { promoted: false, message: `${evaluation.runId} is already in service at ${target}`, target, previous: current };
    }
    // Scores on different test sets say nothing about which model is better: refuse to compare.
    if (path.resolve(current.metrics.dataRoot) !== path.resolve(evaluation.data.root)) {
      return {
        promoted: false,
        message: `not promoted: the model in service ${desc(cur)} was evaluated on ${current.metrics.dataRoot}, ${evaluation.runId} on ${evaluation.data.root}; their scores are not comparable; use --force to replace it`,
        target,
        previous: current,
      };
    }
    if (compareRuns(cur, evaluation) < 0) {
      return {
        promoted: false,
        message: `not promoted: ${desc(evaluation)} is worse than the model in service ${desc(cur)} by the rule "${RANKING_RULE}"; use --force to promote anyway`,
        target,
        previous: current,
      };
    }
  }

  const meta = await readClassifierFile(path.join(modelDir, CLASSIFIER_JSON));
  // Read before anything is staged: a test split that is gone stops the promotion with its reason.
  const parityPhotos =
    opts.parity === false
      ? null
      : await pickTestPhotos(evaluation.data.root, config, opts.parityPhotos).catch((e: Error) => {
          throw new Error(
            `cannot promote ${runDir}: the parity record needs the run's test photos in ${evaluation.data.root}: ${e.message}; ` +
              'put the dataset back there, or promote without the record (`pnpm promote --run DIR --no-parity`; served unchecked)',
          );
        });
  const card: ModelCard = {
    format: MODEL_CARD_FORMAT,
    runId: evaluation.runId,
    arch: meta.arch,
    mode: meta.mode,
    labels: meta.labels,
    preprocess: meta.preprocess,
    imgSize: meta.imgSize,
    inputShape: [meta.imgSize, meta.imgSize, 3],
    fit: meta.fit,
    outputActivation: meta.outputActivation,
    metrics: {
      split: evaluation.split,
      dataRoot: evaluation.data.root,
      n: evaluation.n,
      correct: evaluation.correct,
      accuracy: evaluation.accuracy,
      accuracyInterval: { ...evaluation.accuracyInterval, method: 'wilson', level: 0.95 },
      balancedAccuracy: evaluation.balancedAccuracy,
      macro: evaluation.macro,
      rocAuc: evaluation.rocAuc,
      logLoss: evaluation.logLoss,
      perClass: evaluation.perClass.map(({ label, support, precision, recall, f1 }) => ({ label, support, precision, recall, f1 })),
    },
    data: { root: config?.data?.root, fingerprint: config?.data?.fingerprint, classes: config?.data?.classes },
    backend: { training: config?.backend, evaluation: evaluation.backend },
    trainedAt: config?.createdAt,
    evaluatedAt: evaluation.evaluatedAt,
    promotedAt: (opts.now ?? new Date()).toISOString(),
    modelBytes: await dirSize(modelDir),
    source: path.resolve(runDir),
    selectionRule: opts.decidedBy ?? RANKING_RULE,
    forced: !opts.decidedBy && !!opts.force && current !== null && compareRuns({ ...current.metrics, modelBytes: current.modelBytes }, evaluation) < 0,
  };

  const staged = siblingTemp(target);
  await fs.mkdir(path.dirname(target), { recursive: true });
  try {
    // Every file of the run's model folder (weights, classifier.json, ood.json, ...), not a fixed list.
    await fs.cp(modelDir, staged, { recursive: true });
    // The run's config.json travels with the model: its options are the recipe a retrain repeats.
    if (config) await fs.copyFile(path.join(runDir, RUN_FILES.config), path.join(staged, RUN_FILES.config));
    card.parity = null;
    if (parityPhotos) {
      const record = await recordModelParity(staged, parityPhotos);
      card.parity = { photos: record.entries.length, backend: record.backend, tolerance: record.tolerance };
    }
    await fs.writeFile(path.join(staged, MODEL_CARD_JSON), JSON.stringify(card, null, 2) + '\n');
    await swapIn(staged, target);
  } catch (e) {
    await fs.rm(staged, { recursive: true, force: true });
    throw e;
  }
  const was = current ? ` (previous model ${current.runId} kept in ${prevDir(target)})` : '';
  const kept = await recordServedModel(target, { action: 'promote', previous: current?.runId ?? null, note: card.selectionRule, at: card.promotedAt }).then(
    () => '',
    (e: Error) => `; the model history was not updated: ${e.message}`,
  );
  const registry = opts.db ? await registryNote(opts.db, target, { action: 'promote', note: card.selectionRule }) : '';
  return { promoted: true, message: `promoted ${desc(evaluation)} to ${target}${was}${kept}${registry}`, target, card, previous: current };
}

/** Records the served folder in the registry; the message's tail ("; registry: ..."). Throws when it fails (the local folder changed already). */
export async function registryNote(db: string, target: string, o: { action: 'promote' | 'rollback'; note: string }): Promise<string> {
  const p = await recordInRegistry(db, target, o);
  return p.changed ? `; recorded in the model registry as ${p.modelHash.slice(0, 12)} (${p.action} #${p.id})` : `; the model registry serves it already (${p.modelHash.slice(0, 12)})`;
}

/**
 * Puts the complete folder `staged` at `target`, moving the current target to target.prev.
 * Each step is a rename; if the last one fails the earlier ones are undone.
 */
export async function swapIn(staged: string, target: string): Promise<void> {
  const prev = prevDir(target);
  const oldPrev = (await exists(prev)) ? siblingTemp(prev, 'old') : null;
  if (oldPrev) await fs.rename(prev, oldPrev);
  const hadTarget = await exists(target);
  try {
    if (hadTarget) await fs.rename(target, prev);
    await fs.rename(staged, target);
  } catch (e) {
    if (hadTarget && !(await exists(target)) && (await exists(prev))) await fs.rename(prev, target);
    if (oldPrev && !(await exists(prev))) await fs.rename(oldPrev, prev);
    throw e;
  }
  if (oldPrev) await fs.rm(oldPrev, { recursive: true, force: true });
}

/**
 * Rolls back to model.prev. The two folders swap places, so the model taken out of service is
 * kept and a second rollback undoes the first.
 */
export async function rollback(opts: { target?: string; db?: string } = {}): Promise<PromoteResult> {
  const target = path.resolve(opts.target ?? servedModelDir());
  const prev = prevDir(target);
  if (!(await exists(prev))) throw new Error(`nothing to roll back to: ${prev} does not exist (only one model was ever promoted to ${target}); ${NEXT_STEP.noRollback}`);
  const previous = await readModelCard(prev).catch(() => null);
  const current = (await exists(target)) ? await readModelCard(target).catch(() => null) : null;
  const aside = siblingTemp(target, 'rollback');
  const hadTarget = await exists(target);
  if (hadTarget) await fs.rename(target, aside);
  try {
    await fs.rename(prev, target);
  } catch (e) {
    if (hadTarget) await fs.rename(aside, target);
    throw e;
  }
  if (hadTarget) await fs.rename(aside, prev);
  const kept = previous
    ? await recordServedModel(target, { action: 'rollback', previous: current?.runId ?? null, note: `back to ${prev}` }).then(
        () => '',
        (e: Error) => `; the model history was not updated: ${e.message}`,
      )
    : '';
  const registry = opts.db ? await registryNote(opts.db, target, { action: 'rollback', note: `back to ${prev}` }) : '';
  return {
    promoted: true,
    message: `rolled back ${target} to ${previous?.runId ?? 'the previous model'}${current ? `; ${current.runId} kept in ${prev}` : ''}${kept}${registry}`,
    target,
    card: previous ?? undefined,
    previous: current,
  };
}
