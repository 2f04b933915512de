// What every thin CLI of the workspace shares: commander argument parsers, the demo-dataset fallback
// for a missing --data, and the run-and-exit wrapper. Lives here because every CLI package depends on
// @parts/data (and @parts/data on no other @parts package).
import { existsSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { generateDemoDataset } from './demo';
import { cliArgv, defaultDemoDir, resolveUserPath } from './paths';

/** Commander parser: any integer. */
export function int(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`expected an integer, got '${v}'`);
  return n;
}

/** Commander parser: an integer >= 1. */
export function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got '${v}'`);
  return n;
}

/** Commander parser: any finite number. */
export function num(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got '${v}'`);
  return n;
}

/** Commander parser factory: an integer >= `min`. */
export function intAtLeast(min: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}, got '${v}'`);
    return n;
  };
}

/** Commander parser factory: a finite number >= `min`. */
export function numAtLeast(min: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new InvalidArgumentError(`expected a number >= ${min}, got '${v}'`);
    return n;
  };
}

/** The embedded demo dataset's folder, generated first if missing (saying so on stderr). */
export async function ensureDemoDataset(): Promise<string> {
  const dir = defaultDemoDir();
  if (!existsSync(dir)) {
    process.stderr.write(`no --data given: generating the demo dataset in ${dir}\n`);
    await generateDemoDataset(dir);
  }
  return dir;
}

/** The dataset a CLI works on: the user's --data if given, else the demo dataset (generated if missing). */
export async function dataOrDemo(data: string | undefined): Promise<string> {
  return data ? resolveUserPath(data) : ensureDemoDataset();
}

export interface RunCliOptions {
  /** Start of the one-line error message (default 'error', like commander's own errors). */
  errorPrefix?: string;
}

/**
 * Parses argv (a leading `--` from `pnpm x -- --flag` dropped) and runs `main` with the options and
 * positional arguments; `--verbose` (added if the program lacks it) sets PARTS_VERBOSE=1. Exits with main's number (0 if none); an error prints as one line
 * (`<prefix>: <message>`, the stack too with DEBUG set) and exits 1.
 */
export function runCli(
  program: Command,
  main: (opts: any, args: string[]) => Promise<number | void>,
  { errorPrefix = 'error' }: RunCliOptions = {},
): void {
  // Every CLI takes --verbose: internals (kernel registration, full backend reasons) go to stderr.
  if (!program.options.some((o) => o.long === '--verbose')) program.option('--verbose', 'also print internals (backend kernels, full reasons)');
  program.parse(cliArgv());
  if (program.opts().verbose) process.env.PARTS_VERBOSE = '1';
  main(program.opts(), program.args).then(
    (code) => process.exit(typeof code === 'number' ? code : 0),
    (e: Error) => {
      process.stderr.write(`${errorPrefix}: ${e.message}\n`);
      if (process.env.DEBUG) process.stderr.write(`${e.stack}\n`);
      process.exit(1);
    },
  );
}
