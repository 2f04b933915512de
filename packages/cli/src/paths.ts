// Where things live in the workspace, and how a path the user typed is read.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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
  return process.env.PARTS_DEMO_DIR ? path.resolve(process.env.PARTS_DEMO_DIR) : path.join(repoRoot(), 'datasets', 'demo');
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
  return path.resolve(process.env.INIT_CWD ?? process.cwd(), p);
}
