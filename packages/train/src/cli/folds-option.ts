import { InvalidArgumentError } from 'commander';

/** Parses --folds: an integer K >= 2 (one fold would leave nothing to validate on). */
export function foldCount(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 2) throw new InvalidArgumentError(`--folds needs an integer K >= 2, got '${v}'`);
  return n;
}
