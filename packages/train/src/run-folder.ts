// Ultralytics-style run folders. A run is built in runs/.tmp-<name>/ and renamed to
// runs/<name>/ only when config, history, model and metrics are all written, so a killed run
// never leaves a folder that looks complete.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '@parts/models';

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
    const tmpDir = path.join(out, `.tmp-${runId}`);
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

/** A run folder is complete when its model and metrics are both present. */
export async function isCompleteRun(dir: string): Promise<boolean> {
  return (await exists(path.join(dir, 'metrics.json'))) && (await exists(path.join(dir, 'model', 'classifier.json')));
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}
