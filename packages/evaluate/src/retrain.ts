// Retrain and roll out: train a candidate with the recipe of the model in service on the newest
// dataset version, answer the same photos with both models, and promote the candidate only when it
// is not worse by the CI gate's rule (check.ts `judge`: at most one photo below). The served model
// and the dataset versions are only read until the final promotion, which is promote.ts's atomic
// swap, so a retrain that fails or is killed leaves both as they were (its unfinished run folder
// stays `runs/.tmp-*`, which nothing takes for a run).
//
// What "right" means, so that models with different classes compare on the same photos
// (answerIsRight): the served answer (label, or unknown from the OOD detector) is right when it is
// the photo's class; for a photo of a class the model does not know (a class new since it was
// trained) or a known unknown (reviewed as "not a part"), "unknown" is the right answer, as a model
// that declines is not wrong-accepting. So the model in service earns a nut photo by rejecting it,
// the candidate (which knows `nut`) only by naming it.
//
// Its log lines include `progress <fraction> <message>` lines (the job runner of the review page
// reads them); the last one carries the decision.
import path from 'node:path';
import type { BackendName } from '@parts/backend';
import { servedModelDir } from '@parts/cli';
import { latestVersion, listDataset, readManifest, versionDir, type DatasetManifest } from '@parts/data';
import { loadPredictor } from '@parts/models';
import { predictFiles, readRunConfig, train, type RunConfigFile, type TrainOptions } from '@parts/train';
import { judge } from './check';
import { evaluateRun } from './evaluation';
import { exists, writeFileAtomic, writeJsonAtomic } from './fsutil';
import { mcnemarPaired, type McNemarResult } from './mcnemar';
import { wilsonInterval, type Interval } from './metrics';
import { promoteEvaluated, readModelCard } from './promote';

export const RETRAIN_JSON = 'retrain.json';
export const RETRAIN_MD = 'retrain.md';
export const RETRAIN_FORMAT = 'parts-retrain/1';

export const RETRAIN_RULE =
  'promote when, on each non-empty set (the version\'s test split; its reviewed photos; the known unknowns), the candidate answers at least as many photos right as the model in service minus one (the CI gate\'s rule: at most one photo below); ' +
  "an answer is right when it is the photo's class, or 'unknown' for a photo of a class the model does not know or reviewed as not a part";

/** Whether a served answer (label null = unknown) is right for a photo of class `truth` (null = known unknown). */
export function answerIsRight(truth: string | null, label: string | null, modelLabels: readonly string[]): boolean {
  if (truth === null || !modelLabels.includes(truth)) return label === null;
  return label === truth;
}

export interface PhotoAnswer {
  file: string;
  /** The photo's class; null for a known unknown. */
  truth: string | null;
  reviewed: boolean;
  current: string | null;
  candidate: string | null;
  currentRight: boolean;
  candidateRight: boolean;
  /** A photo a model could not read (counted as wrong for it). */
  error?: string;
}

export interface ModelScore {
  correct: number;
  accuracy: number;
  interval: Interval;
}

export interface SetComparison {
  set: 'test' | 'reviewed' | 'unknowns';
  description: string;
  n: number;
  current: ModelScore;
  candidate: ModelScore;
  /** Paired test on the same photos: b = right only by the model in service, c = only by the candidate. */
  mcnemar: McNemarResult;
  /** Per true class (`unknown` for known unknowns): photos and how many each model answered right. */
  perClass: { truth: string; n: number; current: number; candidate: number }[];
  gate: { pass: boolean; minCorrect: number; message: string };
}

const score = (k: number, n: number): ModelScore => ({ correct: k, accuracy: n ? k / n : 0, interval: wilsonInterval(k, n) });

/** Compares the two models on one set of photos (both answered every photo). */
export function compareSet(set: SetComparison['set'], description: string, photos: readonly PhotoAnswer[]): SetComparison {
  const n = photos.length;
  const cur = photos.filter((p) => p.currentRight).length;
  const cand = photos.filter((p) => p.candidateRight).length;
  const byClass = new Map<string, { truth: string; n: number; current: number; candidate: number }>();
  for (const p of photos) {
    const k = p.truth ?? 'unknown';
    const e = byClass.get(k) ?? byClass.set(k, { truth: k, n: 0, current: 0, candidate: 0 }).get(k)!;
    e.n++;
    e.current += Number(p.currentRight);
    e.candidate += Number(p.candidateRight);
  }
  const j = judge(n ? cur / n : 0, n ? cand / n : 0, Math.max(n, 1), n);
  const message = `${j.pass ? 'ok  ' : 'FAIL'} ${set}: candidate ${cand}/${n} right, model in service ${cur}/${n}; at least ${j.minCorrect}/${n} needed`;
  return {
    set,
    description,
    n,
    current: score(cur, n),
    candidate: score(cand, n),
    mcnemar: mcnemarPaired(photos.map((p) => p.currentRight), photos.map((p) => p.candidateRight)),
    perClass: [...byClass.values()].sort((a, b) => a.truth.localeCompare(b.truth)),
    gate: { pass: j.pass, minCorrect: j.minCorrect, message },
  };
}

/** The decision: promote only when every non-empty set passes the gate; the reasons say which did not. */
export function decidePromotion(sets: readonly SetComparison[]): { promote: boolean; reasons: string[] } {
  const judged = sets.filter((s) => s.n > 0);
  if (judged.length === 0) return { promote: false, reasons: ['no photos to compare the models on'] };
  const failed = judged.filter((s) => !s.gate.pass);
  if (failed.length === 0) return { promote: true, reasons: judged.map((s) => s.gate.message) };
  return {
    promote: false,
    reasons: failed.map((s) => `${s.description}: the candidate answers ${s.candidate.correct}/${s.n} right, the model in service ${s.current.correct}/${s.n} (at least ${s.gate.minCorrect} needed; McNemar p = ${fmtP(s.mcnemar.p)})`),
  };
}

export interface RetrainOptions {
  /** Folder of dataset versions (default <repo>/datasets/versions). */
  versionsRoot: string;
  /** Which version to train on (default: the newest). */
  version?: number;
  /** Served model folder (default <repo>/packages/serve/model). */
  target?: string;
  /** Where the candidate's run folder goes (default <repo>/runs). */
  runsDir?: string;
  backend?: BackendName;
  /** Record the parity photos at promotion (default true). */
  parity?: boolean;
  /** A postgres:// URL: a promotion is also recorded in that database's model registry. */
  db?: string;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

export interface RetrainReport {
  format: typeof RETRAIN_FORMAT;
  startedAt: string;
  seconds: { train: number; evaluate: number; compare: number; total: number };
  version: { number: number; dir: string; classes: string[]; newClasses: string[] };
  current: { runId: string; labels: string[]; trainedOn?: string };
  candidate: { runId: string; runDir: string; labels: string[] } | null;
  rule: string;
  comparisons: SetComparison[];
  decision: { promote: boolean; reasons: string[] };
  promoted: boolean;
  message: string;
  photos: PhotoAnswer[];
}

/** The options of the served model's training run that make its recipe (not where or on what it ran). */
export function recipeOf(config: RunConfigFile): Omit<TrainOptions, 'data'> {
  const o = config.options ?? {};
  const keys = [
    'arch', 'mode', 'epochs', 'batchSize', 'imgSize', 'lr', 'baseLrFactor', 'seed', 'valSplit', 'unfreeze', 'classWeights', 'patience',
    'augment', 'fit', 'lightNorm', 'labelSmoothing', 'lrSchedule', 'warmupEpochs', 'weightDecay', 'averageEpochs', 'skipBad', 'acceptRate', 'silhouette', 'groupThreshold', 'oodLineLight', 'oodTurns',
  ] as const;
  const r: Record<string, unknown> = {};
  for (const k of keys) if (o[k] !== undefined) r[k] = o[k];
  // A run recorded before the option existed fed the photos as decoded: keep it so (the data
  // recipe would otherwise choose for the candidate).
  if (r.lightNorm === undefined && o.mode !== undefined) r.lightNorm = 'none';
  // Base weights only mean something for the pretrained bases outside scratch mode.
  if (o.mode && o.mode !== 'scratch' && o.weights !== undefined) r.weights = o.weights;
  if (!r.arch) r.arch = config.arch;
  // Epochs the data recipe set from the step budget are the budget's for that dataset's size: the
  // candidate gets the budget (its recipe sets the epochs for the new version), not the epoch count,
  // and the warm-up with them unless it was given.
  const chosen = (setting: string) => config.recipe?.choices.find((c) => c.setting === setting);
  if (chosen('epochs')?.given === false) {
    delete r.epochs;
    if (chosen('warmupEpochs')?.given !== true) delete r.warmupEpochs;
    if (o.steps !== undefined) r.steps = o.steps;
  }
  return r as Omit<TrainOptions, 'data'>;
}

export async function retrain(opts: RetrainOptions): Promise<RetrainReport> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const target = path.resolve(opts.target ?? servedModelDir());

  const card = await readModelCard(target);
  if (!card) throw new Error(`no model in service at ${target} (no model-card.json): promote one first (pnpm evaluate --promote, or pnpm promote --run DIR)`);
  const config = (await readRunConfig(target)) ?? (card.source && (await exists(card.source)) ? await readRunConfig(card.source) : undefined);
  if (!config?.options) {
    throw new Error(`cannot retrain with the recipe of ${card.runId}: neither ${path.join(target, 'config.json')} nor its run folder ${card.source} has the run's config.json`);
  }
  const v = opts.version !== undefined ? { version: opts.version, dir: versionDir(opts.versionsRoot, opts.version) } : await latestVersion(opts.versionsRoot);
  if (!v || !(await exists(v.dir))) throw new Error(`no dataset version ${opts.version !== undefined ? `v${opts.version} ` : ''}in ${opts.versionsRoot}: build one first (pnpm dataset build)`);
  const manifest = await readManifest(v.dir);
  log(`retrain: model in service ${card.runId} (${card.labels.join(', ')}); dataset v${v.version} (${manifest.classes.join(', ')}) at ${v.dir}`);

  const recipe = recipeOf(config);
  log(`progress 0.05 training the candidate on v${v.version}`);
  log(`retrain: training the candidate with the recipe of ${card.runId}: ${JSON.stringify(recipe)}`);
  const t0 = Date.now();
  const trained = await train({ ...recipe, data: v.dir, out: opts.runsDir, name: `retrain-v${v.version}`, backend: opts.backend ?? 'auto', log: (l) => log(`train: ${l}`) });
  const trainSeconds = (Date.now() - t0) / 1000;

  log(`progress 0.6 evaluating the candidate ${trained.runId}`);
  log(`retrain: evaluating the candidate ${trained.runId} on v${v.version}'s test split`);
  const t1 = Date.now();
  const evaluation = await evaluateRun(trained.runDir, { robustness: 'off', gradcam: false, log: (l) => log(`evaluate: ${l.trim()}`) });
  const evaluateSeconds = (Date.now() - t1) / 1000;

  log('progress 0.75 answering the same photos with both models');
  log('retrain: answering the same photos with both models');
  const t2 = Date.now();
  const photos = await answerBoth(v.dir, manifest, target, trained.runDir, log);
  const comparisons: SetComparison[] = [
    compareSet('test', `v${v.version} test split (base and reviewed photos)`, photos.filter((p) => p.truth !== null)),
    compareSet('reviewed', `reviewed photos in v${v.version}'s test split (by the split rule, no model trained on any version has seen them)`, photos.filter((p) => p.truth !== null && p.reviewed)),
    compareSet('unknowns', `photos reviewed as not a part (right answer: unknown)`, photos.filter((p) => p.truth === null)),
  ];
  const compareSeconds = (Date.now() - t2) / 1000;
  for (const c of comparisons) if (c.n) log(`retrain: ${c.gate.message}; McNemar ${c.mcnemar.method} p = ${fmtP(c.mcnemar.p)} (b ${c.mcnemar.b}, c ${c.mcnemar.c})`);
  const decision = decidePromotion(comparisons);

  let promoted = false;
  let message: string;
  if (decision.promote) {
    log(`progress 0.9 promoting ${trained.runId}`);
    log(`retrain: promoting ${trained.runId}`);
    const res = await promoteEvaluated(trained.runDir, evaluation, { target, parity: opts.parity, decidedBy: RETRAIN_RULE, db: opts.db });
    promoted = res.promoted;
    message = res.message;
  } else {
    message = `not promoted: ${trained.runId} is worse than the model in service ${card.runId}: ${decision.reasons.join('; ')}; ${card.runId} stays in service`;
  }
  log(`retrain: ${message}`);
  const report: RetrainReport = {
    format: RETRAIN_FORMAT,
    startedAt,
    seconds: { train: trainSeconds, evaluate: evaluateSeconds, compare: compareSeconds, total: (Date.now() - started) / 1000 },
    version: { number: v.version, dir: v.dir, classes: manifest.classes, newClasses: manifest.newClasses },
    current: { runId: card.runId, labels: card.labels, trainedOn: card.data.root },
    candidate: { runId: trained.runId, runDir: trained.runDir, labels: evaluation.perClass.map((c) => c.label) },
    rule: RETRAIN_RULE,
    comparisons,
    decision,
    promoted,
    message,
    photos,
  };
  await writeJsonAtomic(path.join(trained.runDir, RETRAIN_JSON), report);
  await writeFileAtomic(path.join(trained.runDir, RETRAIN_MD), formatRetrainReport(report));
  log(`retrain: report ${path.join(trained.runDir, RETRAIN_MD)}`);
  // The last progress line carries the decision (the review page shows it as the job's message).
  log(`progress 1 ${message}`);
  return report;
}

/** The version's test photos and known unknowns, answered by both models as predict and serve answer. */
async function answerBoth(dir: string, manifest: DatasetManifest, currentDir: string, candidateDir: string, log: (l: string) => void): Promise<PhotoAnswer[]> {
  const index = await listDataset(dir, { validate: false });
  const reviewedPaths = new Set(manifest.photos.filter((p) => p.origin === 'review').map((p) => path.join(dir, p.path)));
  const items: { file: string; truth: string | null }[] = [
    ...index.splits.test.map((s) => ({ file: s.file, truth: index.classes[s.label] })),
    ...manifest.photos.filter((p) => p.split === 'unknowns').map((p) => ({ file: path.join(dir, p.path), truth: null })),
  ];
  const answers = async (modelDir: string, who: string) => {
    const p = await loadPredictor(modelDir);
    try {
      const out = new Map<string, { label: string | null; error?: string }>();
      for await (const r of predictFiles(p, items.map((i) => i.file))) out.set(r.file, { label: r.error ? null : (r.label ?? null), error: r.error });
      log(`retrain: ${who} answered ${out.size} photos`);
      return { labels: p.meta.labels, out };
    } finally {
      p.dispose();
    }
  };
  const cur = await answers(currentDir, 'the model in service');
  const cand = await answers(candidateDir, 'the candidate');
  return items.map((it) => {
    const a = cur.out.get(it.file)!;
    const b = cand.out.get(it.file)!;
    const error = a.error ?? b.error;
    return {
      file: it.file,
      truth: it.truth,
      reviewed: reviewedPaths.has(it.file),
      current: a.label,
      candidate: b.label,
      currentRight: !a.error && answerIsRight(it.truth, a.label, cur.labels),
      candidateRight: !b.error && answerIsRight(it.truth, b.label, cand.labels),
      ...(error ? { error } : {}),
    };
  });
}

function fmtP(p: number): string {
  return p >= 0.001 ? p.toFixed(3) : p.toExponential(1);
}

const pct = (s: ModelScore) => `${s.correct} (${(s.accuracy * 100).toFixed(1)}%, 95% CI ${(s.interval.low * 100).toFixed(1)}–${(s.interval.high * 100).toFixed(1)}%)`;

/** retrain.md: the comparison table, per class, and the decision with its reasons. */
export function formatRetrainReport(r: RetrainReport): string {
  const lines = [
    `# Retrain on dataset v${r.version.number}`,
    '',
    `- model in service: ${r.current.runId} (${r.current.labels.join(', ')})`,
    `- candidate: ${r.candidate?.runId ?? '-'} (${r.candidate?.labels.join(', ') ?? '-'})${r.version.newClasses.length ? `; new classes: ${r.version.newClasses.join(', ')}` : ''}`,
    `- decision: **${r.promoted ? 'promoted' : 'not promoted'}**: ${r.message}`,
    `- rule: ${r.rule}`,
    `- time: train ${r.seconds.train.toFixed(0)} s, evaluate ${r.seconds.evaluate.toFixed(0)} s, compare ${r.seconds.compare.toFixed(0)} s, total ${r.seconds.total.toFixed(0)} s`,
    '',
    '| set | photos | right, model in service | right, candidate | McNemar (b / c, p) | gate |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const c of r.comparisons) {
    if (!c.n) {
      lines.push(`| ${c.description} | 0 | – | – | – | – |`);
      continue;
    }
    lines.push(`| ${c.description} | ${c.n} | ${pct(c.current)} | ${pct(c.candidate)} | ${c.mcnemar.b} / ${c.mcnemar.c}, p = ${fmtP(c.mcnemar.p)} (${c.mcnemar.method}) | ${c.gate.pass ? 'pass' : 'FAIL'} (≥ ${c.gate.minCorrect}) |`);
  }
  lines.push('', 'Per class (photos right, model in service / candidate):', '');
  for (const c of r.comparisons.filter((x) => x.n)) lines.push(`- ${c.set}: ${c.perClass.map((k) => `${k.truth} ${k.current}/${k.candidate} of ${k.n}`).join(', ')}`);
  lines.push('', 'b = photos only the model in service answered right, c = only the candidate; exact binomial test below 25 discordant photos.', '');
  return lines.join('\n');
}
