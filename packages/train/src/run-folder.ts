// The run folder format, owned here: file names, the types of the files training writes, creating
// and finalising a run, and reading one back (evaluate, promote and the report read through here).
//
// Ultralytics-style run folders. A run is built in runs/.tmp-<name>/ and renamed to runs/<name>/
// only when config, history, model and metrics are all written, so a killed run never leaves a
// folder that looks complete.
//
//   runs/<runId>/
//     config.json      RunConfig: options, backend, dataset (root, fingerprint, classes, counts)
//     labels.json      string[]: class names in label order
//     history.json     History: one EpochRecord per epoch, best epoch, early stop
//     metrics.json     RunMetrics: test/val accuracy and loss at the best epoch, OOD fit, calibration
//     kernels.json     WebGPU runs only: kernel variant per convolution shape
//     model/           classifier.json + model.json + weights (see @parts/models classifier-file);
//                      ood.json + ood-<hash>.bin: the OOD detector (see @parts/models ood-file)
//     evaluation.json  written later by pnpm evaluate (the run's own test split)
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { BackendInfo } from '@parts/backend';
import { datasetFingerprint, recordedGroupCrowd, type DatasetIndex, type FitPolicy, type ListOptions, type SplitName } from '@parts/data';
import { CLASSIFIER_JSON, readJsonFile, writeFileAtomic, type PreprocessSpec, type ThresholdChoice, type TrainMode } from '@parts/models';
import type { ResolvedTrainOptions } from './options';
import type { DataRecipe } from './data-recipe';
import { applyFold, type FoldSpec } from './folds';

/** File and folder names inside a run folder. */
export const RUN_FILES = {
  config: 'config.json',
  labels: 'labels.json',
  history: 'history.json',
  metrics: 'metrics.json',
  kernels: 'kernels.json',
  /** The run's own evaluation (its test split on the dataset it was trained on). */
  evaluation: 'evaluation.json',
  /** Cross-validation summary (in a cv folder instead of a run folder). */
  cv: 'cv.json',
  model: 'model',
} as const;

const TMP_PREFIX = '.tmp-';

export interface EpochRecord {
  epoch: number;
  loss: number;
  acc: number;
  valLoss?: number;
  valAcc?: number;
  lr: number;
  timeMs: number;
}

/** history.json. */
export interface History {
  epochs: EpochRecord[];
  bestEpoch: number;
  monitor: 'valLoss' | 'loss';
  stoppedEarly: boolean;
}

/** The OOD detector fitted after training (model/ood.json), as metrics.json records it. */
export interface RunOodFit {
  method: string;
  threshold: number;
  acceptRate: number;
  /** Training photos the scorer was fitted on. */
  n: number;
  /** Validation photos the threshold was set on. */
  thresholdN: number;
  /** What the scorer and the threshold saw, e.g. 'train + 5 line-light variants of each' (absent in older runs: 'train' / 'val'). */
  fittedOn?: string;
  thresholdSplit?: string;
  /** How chooseThreshold set it: 'confidence bound' with many validation photos, 'tolerance bound' with fewer (the silhouette part: 'normal bound' with too few for a quantile). */
  thresholdRule?: ThresholdChoice['rule'];
  /** The near-duplicate groups of those photos, when fewer than the photos (OodFittedOn.thresholdGroups). */
  thresholdGroups?: number;
  featureDim: number;
  /** Wall time of the fit: features of train and val, scorer, threshold, temperature, writing. */
  fitSeconds: number;
  /** The silhouette part: its threshold and own accept rate, or why there is none. */
  silhouette?: { threshold: number; acceptRate: number; n: number; thresholdN: number; reason?: string } | { note: string };
}

/** Temperature scaling fitted on the validation logits. */
export interface RunCalibration {
  split: string;
  n: number;
  temperature: number;
  temperatureAtBound: boolean;
  eceBefore: number;
  eceAfter: number;
  nllBefore: number;
  nllAfter: number;
}

/** metrics.json. */
export interface RunMetrics {
  test: { n: number; correct: number; accuracy: number; loss: number } | null;
  val: { n: number; correct: number; accuracy: number; loss: number } | null;
  trainTimeMs: number;
  epochsRun: number;
  bestEpoch: number;
  /**
   * The model's weights are the mean of these epochs' (--average-epochs), with the batch-norm
   * statistics recomputed on the training photos; bestEpochVal: what the best epoch's weights
   * scored on validation (null without a validation split). Absent: the best epoch's weights.
   */
  averaged?: {
    epochs: [number, number];
    count: number;
    batchNormLayers: number;
    bestEpochVal: { n: number; correct: number; accuracy: number; loss: number } | null;
  };
  /** null: no ood.json was written (`oodNote` says why). */
  ood: RunOodFit | null;
  calibration: RunCalibration | null;
  oodNote?: string;
  /**
   * Near-duplicate groups each split held (null: a split read from its own folder, not grouped);
   * absent when photos were split one by one (--group-threshold 0). `largest`: photos in the largest
   * group (absent in runs recorded before it was).
   */
  groups?: { threshold: number; largest?: number; train: number | null; val: number | null; test: number | null };
}

/** config.json as training writes it. */
export interface RunConfig {
  runId: string;
  createdAt: string;
  arch: string;
  mode: TrainMode;
  imgSize: number;
  fit: FitPolicy;
  preprocess: PreprocessSpec;
  /** Where the base weights came from ('none' for from-scratch models). */
  weights: string;
  options: ResolvedTrainOptions;
  backend: BackendInfo;
  data: { root: string; fingerprint: string; classes: string[]; counts: Record<'train' | 'val' | 'test', number[]>; splitSource?: unknown; groups?: DatasetIndex['groups'] };
  /** What was chosen from the training split and why (data-recipe.ts); null when the data recipe was off. */
  recipe?: DataRecipe | null;
}

/**
 * What a reader may rely on: folders written by older versions, or damaged ones, can lack any
 * field, so every field is optional.
 */
export type RunConfigFile = Partial<Omit<RunConfig, 'options' | 'backend' | 'data'>> & {
  options?: Partial<ResolvedTrainOptions>;
  backend?: Partial<BackendInfo>;
  data?: Partial<RunConfig['data']>;
};
/** An epoch of history.json as a reader sees it (lr and timeMs are absent in older runs). */
export type HistoryEpoch = Omit<EpochRecord, 'lr' | 'timeMs'> & Partial<Pick<EpochRecord, 'lr' | 'timeMs'>>;
export type HistoryFile = { epochs: HistoryEpoch[] } & Partial<Omit<History, 'epochs'>>;
export type RunMetricsFile = Partial<RunMetrics>;

export interface RunFolder {
  runId: string;
  /** Where files are written while the run is in progress. */
  tmpDir: string;
  /** Where the run ends up. */
  finalDir: string;
}

export function timestamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

export async function createRunFolder(out: string, arch: string, mode: string, name?: string): Promise<RunFolder> {
  await fs.mkdir(out, { recursive: true });
  const base = [timestamp(), arch, mode, name].filter(Boolean).join('-').replace(/[^A-Za-z0-9._-]/g, '_');
  // Two runs started in the same second get distinct names.
  for (let i = 0; ; i++) {
    const runId = i === 0 ? base : `${base}-${i + 1}`;
    const finalDir = path.join(out, runId);
    const tmpDir = path.join(out, `${TMP_PREFIX}${runId}`);
    if (await exists(finalDir) || await exists(tmpDir)) continue;
    await fs.mkdir(tmpDir);
    return { runId, tmpDir, finalDir };
  }
}

export async function writeRunJson(run: RunFolder, file: string, value: unknown): Promise<void> {
  await writeFileAtomic(path.join(run.tmpDir, file), JSON.stringify(value, null, 2) + '\n');
}

export async function finalizeRunFolder(run: RunFolder): Promise<string> {
  await fs.rename(run.tmpDir, run.finalDir);
  return run.finalDir;
}

export async function discardRunFolder(run: RunFolder): Promise<void> {
  await fs.rm(run.tmpDir, { recursive: true, force: true });
}

/** The model folder of a run. */
export function runModelDir(runDir: string): string {
  return path.join(runDir, RUN_FILES.model);
}

/** A run folder is complete when its model and metrics are both present. */
export async function isCompleteRun(dir: string): Promise<boolean> {
  return (await exists(path.join(dir, RUN_FILES.metrics))) && (await exists(path.join(runModelDir(dir), CLASSIFIER_JSON)));
}

// ---- reading run folders ----
// Everything below tolerates broken folders: a problem becomes a reason string on the run, never an
// exception, so that one bad run cannot stop a report about the others.

export interface RunInfo {
  dir: string;
  /** config.runId, else the folder name. */
  runId: string;
  /** 'incomplete' = missing files or a .tmp- folder left by a run that never finished. */
  status: 'complete' | 'incomplete';
  problems: string[];
  config?: RunConfigFile;
  history?: HistoryFile;
  metrics?: RunMetricsFile;
}

/** Sub-folders of runsDir that look like runs (including `.tmp-*` leftovers, reported as incomplete). */
export async function listRunDirs(runsDir: string): Promise<string[]> {
  let entries;
  try {
    entries = await fs.readdir(runsDir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`cannot list runs folder ${runsDir}: ${(e as Error).message}`);
  }
  const dirs = entries.filter((e) => e.isDirectory() && (!e.name.startsWith('.') || e.name.startsWith(TMP_PREFIX))).map((e) => path.join(runsDir, e.name));
  // A folder of runs inside runsDir (a cross-validation's cv folder, the learning curve's runs) is no run itself.
  const isFolderOfRuns = async (dir: string): Promise<boolean> => {
    if (await exists(path.join(dir, RUN_FILES.config))) return false;
    if (await exists(path.join(dir, RUN_FILES.cv))) return true;
    const inner = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of inner) if (e.isDirectory() && (await exists(path.join(dir, e.name, RUN_FILES.config)))) return true;
    return false;
  };
  const keep = await Promise.all(dirs.map(async (d) => !(await isFolderOfRuns(d))));
  return dirs.filter((_, i) => keep[i]).sort();
}

/**
 * The listing options a run's dataset was split with (seed, validation share, near-duplicate groups),
 * so that re-listing it gives the run's own splits: runs recorded before near-duplicate grouping
 * split photo by photo (threshold 0), and those before the groups' crowd chained every pair.
 */
export function runListOptions(
  config: { options?: { valSplit?: unknown; seed?: unknown; skipBad?: unknown; groupThreshold?: unknown }; data?: { groups?: { crowd?: number | null } } } | undefined,
): ListOptions {
  const o = config?.options ?? {};
  return {
    valSplit: typeof o.valSplit === 'number' ? o.valSplit : undefined,
    seed: typeof o.seed === 'number' ? o.seed : undefined,
    skipBad: o.skipBad === true,
    groupThreshold: typeof o.groupThreshold === 'number' ? o.groupThreshold : 0,
    groupCrowd: recordedGroupCrowd(config?.data?.groups),
  };
}

/**
 * How a dataset re-listed with a run's listing options (runListOptions) differs from the photos per
 * class the run recorded (config.json data.counts): one line per split that changed, empty when
 * none did or the run recorded no counts. Photos added to or removed from the folder since training
 * change them (so would a change to how splits are drawn), and a generated split may then hold
 * photos the model was trained on.
 */
export function splitCountChanges(
  index: { classes: readonly string[]; splits: Record<SplitName, readonly { label: number }[]> },
  config: { data?: { classes?: readonly string[]; counts?: Partial<Record<SplitName, readonly number[]>> } } | undefined,
): string[] {
  const then = config?.data;
  if (!then?.classes || !then.counts) return [];
  const names = [...new Set([...then.classes, ...index.classes])].sort();
  const out: string[] = [];
  for (const s of ['train', 'val', 'test'] as const) {
    const recorded = then.counts[s];
    if (!recorded) continue;
    const now = new Map(index.classes.map((c, i) => [c, index.splits[s].filter((x) => x.label === i).length]));
    const had = new Map(then.classes.map((c, i) => [c, recorded[i] ?? 0]));
    const changed = names.filter((c) => (now.get(c) ?? 0) !== (had.get(c) ?? 0));
    if (changed.length) {
      const list = (m: Map<string, number>) => changed.map((c) => `${c} ${m.get(c) ?? 0}`).join(', ');
      out.push(`the ${s} split has ${list(now)} photos now, the run had ${list(had)}`);
    }
  }
  return out;
}

/**
 * How the training dataset, listed again with the run's own options (runListOptions; a
 * cross-validation fold run's fold applied again), differs from what the run recorded: the photos
 * per class of each split (splitCountChanges), else the dataset fingerprint (the same counts but
 * other photos, e.g. one swapped for another). Empty when it is the run's dataset as it was.
 */
export async function datasetChangesSinceTraining(
  index: DatasetIndex,
  config: { options?: { fold?: unknown; seed?: unknown }; data?: { classes?: readonly string[]; counts?: Partial<Record<SplitName, readonly number[]>>; fingerprint?: string } } | undefined,
): Promise<string[]> {
  const fold = config?.options?.fold as FoldSpec | undefined;
  const seed = config?.options?.seed;
  let listed = index;
  if (fold && (typeof seed === 'number' || typeof seed === 'string')) {
    try {
      listed = applyFold(index, fold, seed);
    } catch (e) {
      return [`the run's fold ${fold.k} of ${fold.folds} cannot be drawn from the photos now (${(e as Error).message})`];
    }
  }
  const counts = splitCountChanges(listed, config);
  if (counts.length) return counts;
  const recorded = config?.data?.fingerprint;
  if (recorded && (await datasetFingerprint(listed)) !== recorded) {
    return ['the same number of photos per class, but not the photos or the splits the run had (the dataset fingerprint differs)'];
  }
  return [];
}

/** Reads config.json of a run folder, or undefined when it has none. Throws on unreadable JSON. */
export async function readRunConfig(runDir: string): Promise<RunConfigFile | undefined> {
  const file = path.join(runDir, RUN_FILES.config);
  return (await exists(file)) ? readJsonFile<RunConfigFile>(file) : undefined;
}

export async function readRun(dir: string): Promise<RunInfo> {
  const problems: string[] = [];
  const name = path.basename(dir);
  if (name.startsWith(TMP_PREFIX)) problems.push('unfinished: temporary folder of a run that did not complete');
  const optional = async <T>(file: string, required: boolean): Promise<T | undefined> => {
    const p = path.join(dir, file);
    if (!(await exists(p))) {
      if (required) problems.push(`missing ${file}`);
      return undefined;
    }
    try {
      return await readJsonFile<T>(p);
    } catch (e) {
      problems.push((e as Error).message);
      return undefined;
    }
  };
  const config = await optional<RunConfigFile>(RUN_FILES.config, true);
  const history = await optional<HistoryFile>(RUN_FILES.history, false);
  const metrics = await optional<RunMetricsFile>(RUN_FILES.metrics, true);
  if (!(await exists(path.join(runModelDir(dir), CLASSIFIER_JSON)))) problems.push(`missing ${RUN_FILES.model}/${CLASSIFIER_JSON}`);
  if (history && !Array.isArray(history.epochs)) problems.push(`${RUN_FILES.history} has no epochs array`);
  return {
    dir,
    runId: config?.runId ?? name.replace(/^\.tmp-/, ''),
    status: problems.length ? 'incomplete' : 'complete',
    problems,
    config,
    history: history && Array.isArray(history.epochs) ? history : undefined,
    metrics,
  };
}


async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}
