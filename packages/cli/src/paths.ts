// Where things live in the workspace, and how a path the user typed is read.
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { envSetting, processEnv, type RawEnv } from './settings/env';

/**
 * The workspace root: the nearest folder at or above `from` holding pnpm-workspace.yaml.
 * Starts from this module's folder by default, so it works whatever the current directory is.
 */
export function repoRoot(from: string = path.dirname(fileURLToPath(import.meta.url))): string {
  let dir = path.resolve(from);
  for (;;) {
    if (existsSync(path.join(dir, 'pnpm-workspace.yaml'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the repository root (no pnpm-workspace.yaml above ${from})`);
    dir = parent;
  }
}

/** Where `pnpm dataset:demo` writes the embedded demo dataset by default: `$PARTS_DEMO_DIR`, else <repo>/datasets/demo. */
export function defaultDemoDir(): string {
  const dir = envSetting('PARTS_DEMO_DIR');
  return dir ? path.resolve(dir) : path.join(repoRoot(), 'datasets', 'demo');
}

/** The model folder the service answers with: where promotion puts models, and serve/predict's default. */
export function servedModelDir(): string {
  return path.join(repoRoot(), 'packages', 'serve', 'model');
}

/**
 * Resolves a path typed by the user. pnpm runs root scripts from the repo root, but sets INIT_CWD
 * to the folder the user was in; relative paths are meant relative to that folder.
 */
export function resolveUserPath(p: string): string {
  return path.resolve(envSetting('INIT_CWD') ?? process.cwd(), p);
}

/** Name of the folder this project uses under the user's cache directory. */
export const CACHE_APP_NAME = 'parts-classifier';

/**
 * Root of the project's cache (downloaded weights, tuned GPU kernels): $PARTS_CACHE_DIR, else
 * $XDG_CACHE_HOME/parts-classifier, else ~/.cache/parts-classifier. Empty variables count as unset
 * (a stray `PARTS_CACHE_DIR=` must not mean the working directory).
 */
export function cacheDir(env: RawEnv = processEnv()): string {
  const explicit = envSetting('PARTS_CACHE_DIR', env)?.trim();
  if (explicit) return path.resolve(explicit);
  const xdg = envSetting('XDG_CACHE_HOME', env)?.trim();
  // The XDG spec says relative values are invalid and must be ignored.
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, CACHE_APP_NAME);
  return path.join(os.homedir(), '.cache', CACHE_APP_NAME);
}
