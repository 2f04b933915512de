// The example Prometheus alert rules (deploy/prometheus/alerts.yml): `promtool check rules` accepts
// them, and `promtool test rules` runs their unit tests (alerts.test.yml: a drifting replica, one
// with a refused model, one answering nothing). Skipped, saying why, when promtool is not installed
// (Debian package `prometheus`; scripts/setup.sh installs it as root). The metric names the rules use
// are checked against what a server exports in metrics.test.ts and here against metrics.ts.
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '@parts/cli';

const DIR = path.join(repoRoot(), 'deploy', 'prometheus');

function findPromtool(): string | null {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
    return 'promtool';
  } catch {
    return null;
  }
}

const promtool = findPromtool();
if (!promtool) console.warn('alert-rules.test: promtool not found (apt-get install prometheus); skipping the promtool checks of deploy/prometheus/alerts.yml');
const run = promisify(execFile);

describe.skipIf(!promtool)('deploy/prometheus/alerts.yml with promtool', () => {
  it('passes `promtool check rules`', async () => {
    const { stdout } = await run(promtool!, ['check', 'rules', 'alerts.yml'], { cwd: DIR });
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('passes its unit tests (`promtool test rules alerts.test.yml`)', async () => {
    const { stdout } = await run(promtool!, ['test', 'rules', 'alerts.test.yml'], { cwd: DIR });
    expect(stdout).toMatch(/SUCCESS/);
  });
});

describe('deploy/prometheus/alerts.yml', () => {
  it('uses only metric names the server exports', () => {
    const rules = readFileSync(path.join(DIR, 'alerts.yml'), 'utf8');
    const source = readFileSync(path.join(repoRoot(), 'packages', 'serve', 'src', 'metrics.ts'), 'utf8');
    const used = new Set(rules.match(/\bparts_[a-z_]+\b/g));
    expect(used.size).toBeGreaterThan(4);
    for (const name of used) expect(source, `${name} is not exported by metrics.ts`).toContain(`'${name}'`);
  });
});
