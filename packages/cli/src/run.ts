// Running a thin CLI: argv as pnpm passes it, one-line errors, the exit code.
import type { Command } from 'commander';
import { envSetting, readEnv, setEnvSetting } from './settings/env';

/**
 * process.argv without the `--` separator that `pnpm <script> -- --flag` passes through, so both
 * `pnpm train --epochs 5` and `pnpm train -- --epochs 5` work.
 */
export function cliArgv(argv: string[] = process.argv): string[] {
  return argv.filter((a, i) => !(i === 2 && a === '--'));
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
  if (program.opts().verbose) setEnvSetting('PARTS_VERBOSE', '1');
  // Every environment variable is checked before any work starts: a bad value is one clear error.
  const started = (async () => {
    readEnv();
    return main(program.opts(), program.args);
  })();
  started.then(
    (code) => process.exit(typeof code === 'number' ? code : 0),
    (e: Error) => {
      process.stderr.write(`${errorPrefix}: ${e.message}\n`);
      if (envSetting('DEBUG')) process.stderr.write(`${e.stack}\n`);
      process.exit(1);
    },
  );
}
