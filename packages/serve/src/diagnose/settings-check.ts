// `pnpm diagnose`'s settings line: the environment variables in force (each parsed by the settings
// schema: a bad value has already stopped the command with an error naming it), and PARTS_
// variables that nothing reads, which are most likely typos of one that does.
import { envReport, ENV_SETTINGS, type RawEnv } from '@parts/cli';
import type { Check } from './types';

/** Closest declared name by edit distance, for "did you mean". */
function closest(name: string): string | undefined {
  const dist = (a: string, b: string) => {
    const d = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
      let prev = d[0]!;
      d[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const t = d[j]!;
        d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = t;
      }
    }
    return d[b.length]!;
  };
  const best = Object.keys(ENV_SETTINGS)
    .map((n) => ({ n, d: dist(name, n) }))
    .sort((a, b) => a.d - b.d)[0];
  return best && best.d <= 3 ? best.n : undefined;
}

export function checkSettings(env: RawEnv): Check {
  const { rows, unknown } = envReport(env);
  const inForce = rows.map((r) => `${r.name}=${r.value}`);
  const details = { inForce: Object.fromEntries(rows.map((r) => [r.name, r.value])), unknown };
  if (unknown.length) {
    return {
      id: 'settings',
      title: 'settings',
      verdict: 'warn',
      summary: `${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not read by anything${inForce.length ? `; in force: ${inForce.join(' ')}` : ''}`,
      fix: unknown.map((u) => (closest(u) ? `${u}: did you mean ${closest(u)}?` : `${u}: unset it`)).join('; ') + ' (README "Settings" lists every variable)',
      details,
    };
  }
  return {
    id: 'settings',
    title: 'settings',
    verdict: inForce.length ? 'ok' : 'info',
    summary: inForce.length ? `environment in force: ${inForce.join(' ')}` : 'no PARTS_ environment variables set: every default applies',
    details,
  };
}
