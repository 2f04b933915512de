// Finding and reading run folders (layout in /work/notes/CONTRACTS.md). Everything here tolerates
// broken folders: a problem becomes a reason string on the run, never an exception, so that one
// bad run cannot stop a report about the others.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { exists, readJson } from './fsutil';

/** The parts of config.json this package uses (the file holds more). */
export interface RunConfig {
  runId?: string;
  createdAt?: string;
  arch?: string;
  mode?: string;
  options?: Record<string, unknown>;
  backend?: { name?: string; device?: string };
  data?: { root?: string; fingerprint?: string; classes?: string[]; counts?: Record<string, number[]>; splitSource?: unknown };
  imgSize?: number;
  fit?: string;
  preprocess?: string;
  weights?: string;
}

export interface HistoryEpoch {
  epoch: number;
  loss: number;
  acc: number;
  valLoss?: number;
  valAcc?: number;
  lr?: number;
  timeMs?: number;
}

export interface RunHistory {
  epochs: HistoryEpoch[];
  bestEpoch?: number;
  stoppedEarly?: boolean;
}

export interface RunMetricsFile {
  test: { n: number; correct: number; accuracy: number; loss: number } | null;
  trainTimeMs?: number;
  epochsRun?: number;
}

export interface RunInfo {
  dir: string;
  /** config.runId, else the folder name. */
  runId: string;
  /** 'incomplete' = missing files or a .tmp- folder left by a run that never finished. */
  status: 'complete' | 'incomplete';
  problems: string[];
  config?: RunConfig;
  history?: RunHistory;
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
  return entries
    .filter((e) => e.isDirectory() && (!e.name.startsWith('.') || e.name.startsWith('.tmp-')))
    .map((e) => path.join(runsDir, e.name))
    .sort();
}

export async function readRun(dir: string): Promise<RunInfo> {
  const problems: string[] = [];
  const name = path.basename(dir);
  if (name.startsWith('.tmp-')) problems.push('unfinished: temporary folder of a run that did not complete');
  const optional = async <T>(file: string, required: boolean): Promise<T | undefined> => {
    const p = path.join(dir, file);
    if (!(await exists(p))) {
      if (required) problems.push(`missing ${file}`);
      return undefined;
    }
    try {
      return await readJson<T>(p);
    } catch (e) {
      problems.push((e as Error).message);
      return undefined;
    }
  };
  const config = await optional<RunConfig>('config.json', true);
  const history = await optional<RunHistory>('history.json', false);
  const metrics = await optional<RunMetricsFile>('metrics.json', true);
  if (!(await exists(path.join(dir, 'model', 'classifier.json')))) problems.push('missing model/classifier.json');
  if (history && !Array.isArray(history.epochs)) problems.push('history.json has no epochs array');
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
