// Node and pnpm against what the repository asks for.
import path from 'node:path';
import type { DiagnoseProbes } from './probes';
import type { Check } from './types';

function parseVersion(v: string): number[] {
  return v.replace(/^v/, '').split(/[.+-]/).slice(0, 3).map((x) => Number(x) || 0);
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}

/** Whether `version` satisfies a range of the forms package.json engines use here: `>=X.Y[.Z]`, `^X.Y.Z`, `X.Y.Z`; null when the form is not understood. */
export function satisfies(version: string, range: string): boolean | null {
  const m = /^\s*(>=|\^)?\s*v?(\d+(?:\.\d+){0,2})\s*$/.exec(range);
  if (!m) return null;
  const v = parseVersion(version);
  const r = parseVersion(m[2]!);
  if (m[1] === '>=') return compare(v, r) >= 0;
  if (m[1] === '^') return v[0] === r[0] && compare(v, r) >= 0;
  return compare(v, r) === 0;
}

export async function checkNode(p: DiagnoseProbes): Promise<Check> {
  const pkgText = await p.readText(path.join(p.root, 'package.json'));
  const range = pkgText ? (JSON.parse(pkgText) as { engines?: { node?: string } }).engines?.node : undefined;
  const base = { id: 'node', title: 'node', required: true, details: { version: p.nodeVersion, engines: range ?? null } };
  if (!range) return { ...base, verdict: 'info', summary: `Node ${p.nodeVersion} (package.json names no engines.node)` };
  const ok = satisfies(p.nodeVersion, range);
  if (ok === null) return { ...base, verdict: 'info', summary: `Node ${p.nodeVersion}; package.json asks for ${range} (not checked: range form not understood)` };
  if (ok) return { ...base, verdict: 'ok', summary: `Node ${p.nodeVersion} (package.json engines: ${range})` };
  return { ...base, verdict: 'fail', summary: `Node ${p.nodeVersion} is older than package.json's engines.node ${range}`, fix: `install Node ${range.replace(/^>=\s*/, '')} or newer (e.g. \`nvm install 20\`), then \`bash scripts/setup.sh\`` };
}

/** The pnpm version scripts/setup.sh installs (its PNPM_VERSION=...), or null. */
export function pinnedPnpm(setupSh: string | null): string | null {
  return /^PNPM_VERSION=["']?([\d.]+)/m.exec(setupSh ?? '')?.[1] ?? null;
}

export async function checkPnpm(p: DiagnoseProbes): Promise<Check> {
  const [version, setup] = await Promise.all([p.pnpmVersion(), p.readText(path.join(p.root, 'scripts', 'setup.sh'))]);
  const pinned = pinnedPnpm(setup);
  const base = { id: 'pnpm', title: 'pnpm', required: true, details: { version, pinned } };
  if (!version) return { ...base, verdict: 'fail', summary: 'pnpm is not on PATH', fix: '`bash scripts/setup.sh` installs it (or `npm install -g pnpm@' + (pinned ?? '12') + '`)' };
  if (!pinned) return { ...base, verdict: 'info', summary: `pnpm ${version} (scripts/setup.sh pins no version)` };
  if (version === pinned) return { ...base, verdict: 'ok', summary: `pnpm ${version} (the version scripts/setup.sh pins)` };
  const sameMajor = parseVersion(version)[0] === parseVersion(pinned)[0];
  return {
    ...base,
    verdict: 'warn',
    summary: `pnpm ${version}, but scripts/setup.sh pins ${pinned}${sameMajor ? '' : ' (another major version: the lockfile may not install)'}`,
    fix: `\`npm install -g pnpm@${pinned}\` (or \`bash scripts/setup.sh\`)`,
  };
}
