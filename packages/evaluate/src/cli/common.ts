// Bits only evaluate's CLIs share; the workspace-wide ones (runCli, parsers, paths) are in @parts/cli.
import path from 'node:path';
import { repoRoot, resolveUserPath } from '@parts/cli';

export { resolveUserPath };

export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

export function fromRepo(...parts: string[]): string {
  return path.join(repoRoot(), ...parts);
}
