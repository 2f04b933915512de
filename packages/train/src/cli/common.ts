import { existsSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { cliArgv, defaultDemoDir, generateDemoDataset } from '@parts/data';

export function int(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`expected an integer, got '${v}'`);
  return n;
}

export function num(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got '${v}'`);
  return n;
}

/** The embedded demo dataset, generated on first use. */
export async function defaultData(): Promise<string> {
  const dir = defaultDemoDir();
  if (!existsSync(dir)) {
    process.stderr.write(`no --data given: generating the demo dataset in ${dir}\n`);
    await generateDemoDataset(dir);
  }
  return dir;
}

/** Parses argv and runs `main`; errors print as one clear line and exit 1. */
export function runCli(program: Command, main: (opts: any, args: string[]) => Promise<number | void>): void {
  program.parse(cliArgv());
  main(program.opts(), program.args).then(
    (code) => process.exit(typeof code === 'number' ? code : 0),
    (e: Error) => {
      process.stderr.write(`error: ${e.message}\n`);
      if (process.env.DEBUG) process.stderr.write(`${e.stack}\n`);
      process.exit(1);
    },
  );
}
