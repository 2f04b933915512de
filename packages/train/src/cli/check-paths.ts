// Paths given on the command line that must exist, checked before any work starts.
import { existsSync } from 'node:fs';

/** Throws one error naming every option whose path does not exist (undefined values are skipped). */
export function checkPathsExist(paths: Record<string, string | undefined>): void {
  const missing = Object.entries(paths).filter(([, p]) => p !== undefined && !existsSync(p));
  if (missing.length === 0) return;
  const hint = missing.some(([flag]) => flag === '--data') ? '; leave out --data to use the demo dataset (`pnpm dataset:demo` generates it)' : '';
  throw new Error(missing.map(([flag, p]) => `${flag}: ${p} does not exist`).join('; ') + hint);
}
