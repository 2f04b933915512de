// Bits only evaluate's CLIs share; the workspace-wide ones (runCli, parsers) are in @parts/data's cli-kit.
import path from 'node:path';
import { repoRoot, resolveUserPath } from '@parts/data';

export { resolveUserPath };

export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

export function fromRepo(...parts: string[]): string {
  return path.join(repoRoot(), ...parts);
}
