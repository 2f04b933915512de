// Shared bits of the thin CLIs.
import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import { cliArgv, repoRoot, resolveUserPath } from '@parts/data';

export { resolveUserPath };

export function int(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got '${v}'`);
  return n;
}

export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

export function fromRepo(...parts: string[]): string {
  return path.join(repoRoot(), ...parts);
}

/** Parses argv and runs `main`; an error prints as one line (stack with DEBUG=1) and exits 1. */
export function runCli(program: Command, main: (opts: any) => Promise<number | void>): void {
  // `pnpm evaluate -- --x` passes a literal '--' first; drop it.
  program.parse(cliArgv());
  main(program.opts()).then(
    (code) => process.exit(typeof code === 'number' ? code : 0),
    (e: Error) => {
      process.stderr.write(`error: ${e.message}\n`);
      if (process.env.DEBUG) process.stderr.write(`${e.stack}\n`);
      process.exit(1);
    },
  );
}
