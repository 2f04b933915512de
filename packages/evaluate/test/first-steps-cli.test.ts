// First commands of a new user on evaluate/promote/study: the error names the next command, and
// bad options are refused before a backend starts or the demo dataset is generated.
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '@parts/cli';

const exec = promisify(execFile);
const tsx = path.join(repoRoot(), 'node_modules', '.bin', 'tsx');
const cli = (name: string) => path.join(repoRoot(), 'packages', 'evaluate', 'src', 'cli', `${name}.ts`);

let tmp: string;
let demo: string;

beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'parts-first-steps-'));
  demo = path.join(tmp, 'demo');
  await fsp.mkdir(path.join(tmp, 'runs'));
});
afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

async function run(name: string, args: string[]): Promise<{ code: number; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, PARTS_DEMO_DIR: demo, INIT_CWD: tmp };
  delete env.DEBUG;
  return exec(tsx, [cli(name), ...args], { env, cwd: tmp }).then(
    (r) => ({ code: 0, stderr: r.stderr }),
    (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
  );
}

async function expectRefused(r: { code: number; stderr: string }): Promise<void> {
  expect(r.code).toBe(1);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).not.toMatch(/^backend:|^\s+at /m);
  await expect(fsp.stat(demo)).rejects.toThrow();
}

describe('first steps', () => {
  it('pnpm evaluate with no runs says to train first, before a backend starts', async () => {
    const r = await run('evaluate', ['--runs', 'runs']);
    expect(r.stderr).toMatch(/^error: no run folders in .*runs: run `pnpm train` first/m);
    await expectRefused(r);
  });

  it('pnpm promote with no runs says to train, then evaluate --promote', async () => {
    const r = await run('promote', ['--runs', 'runs', '--target', 'model']);
    expect(r.stderr).toMatch(/^error: no run folders in .*runs: run `pnpm train` first, then `pnpm evaluate --promote`/m);
    await expectRefused(r);
  });

  it('pnpm promote --rollback with nothing to roll back to', async () => {
    const r = await run('promote', ['--rollback', '--target', 'model']);
    expect(r.stderr).toMatch(/^error: nothing to roll back to: .*model\.prev does not exist .*; promote a second model first \(`pnpm promote --run runs\/<run>`\)$/m);
    await expectRefused(r);
  });

  it('pnpm study refuses a bad option before generating the demo dataset', async () => {
    const r = await run('study', ['--img-size', '8', '--only', 'tinyvgg:scratch']);
    expect(r.stderr).toMatch(/^error: --img-size must be an integer in 16\.\.1024 \(got 8\)$/m);
    expect(r.stderr).not.toMatch(/generating the demo dataset/);
    await expectRefused(r);
  });
});
