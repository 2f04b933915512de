// The CLIs' argument rules and exit statuses, on fake run folders (no training, no model loading).
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '@parts/cli';
import { EVALUATION_JSON } from '../src/evaluation-record';
import { fakeRun, otherScope, tempDir } from './helpers';

const exec = promisify(execFile);
const tsx = path.join(repoRoot(), 'node_modules', '.bin', 'tsx');
const src = (f: string) => path.join(repoRoot(), 'packages', 'evaluate', 'src', 'cli', f);

/** Runs a CLI; resolves with its exit code and output whether it fails or not. */
async function cli(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return exec(tsx, [src(file), ...args]).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

describe('pnpm evaluate arguments', () => {
  it('refuses --check and --promote with a split other than test, before evaluating anything', async () => {
    const root = await tempDir();
    const a = await fakeRun(root, 'a', 3);
    const [check, promote] = await Promise.all([
      cli('evaluate.ts', ['--run', a.dir, '--split', 'train', '--check', '--no-report', '--backend', 'cpu']),
      cli('evaluate.ts', ['--run', a.dir, '--split', 'val', '--promote', '--no-report', '--backend', 'cpu']),
    ]);
    expect(check.code).toBe(1);
    expect(check.stderr).toMatch(/--check uses test-split evaluations only; it cannot be combined with --split train/);
    expect(promote.code).toBe(1);
    expect(promote.stderr).toMatch(/--promote uses test-split evaluations only; it cannot be combined with --split val/);
    // Nothing was evaluated, so the run's evaluation.json is untouched.
    expect(JSON.parse(await fs.readFile(path.join(a.dir, EVALUATION_JSON), 'utf8'))).toEqual(a.ev);
  });
});

describe('pnpm promote exit status', () => {
  it('0 when it did its job, promoted or not; 1 on errors', async () => {
    const root = await tempDir();
    const target = path.join(root, 'serve', 'model');
    const good = await fakeRun(root, 'good', 3);
    const worse = await fakeRun(root, 'worse', 2);
    // Fake models and no test photos: no parity record (that is tested in promote.test.ts).
    const promote = (...args: string[]) => cli('promote.ts', [...args, '--target', target, '--no-parity']);

    const first = await promote('--run', good.dir);
    expect(first).toMatchObject({ code: 0 });
    expect(first.stdout).toMatch(/^promoted good/);
    const declined = await promote('--run', worse.dir);
    expect(declined).toMatchObject({ code: 0 });
    expect(declined.stdout).toMatch(/not promoted: worse .* is worse than the model in service good/);

    // A train-split evaluation.json (as older versions wrote) is an error for --run…
    const stale = await fakeRun(root, 'stale', 4);
    await fs.writeFile(path.join(stale.dir, EVALUATION_JSON), JSON.stringify(otherScope(stale.ev, { split: 'train' })));
    const refused = await promote('--run', stale.dir, '--force');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/error: .*stale.*evaluation\.json is an evaluation of the 'train' split/);

    // …and is left out, with a warning, when picking the best of runs/ (it would have won).
    const best = await promote('--runs', path.join(root, 'runs'));
    expect(best.code).toBe(0);
    expect(best.stderr).toMatch(/warning: not considered: .*stale.*'train' split/);
    expect(best.stdout).toMatch(/good is already in service/);
  });
});
