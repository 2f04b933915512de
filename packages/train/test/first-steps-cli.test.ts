// A new user's first commands: an error that would leave them stuck names the next command, bad
// options are refused before any work (no demo dataset generated, no backend started), and every
// message is one line without a stack trace.
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '@parts/cli';
import { WeightsUnavailableError } from '@parts/models';

const exec = promisify(execFile);
const tsx = path.join(repoRoot(), 'node_modules', '.bin', 'tsx');
const cli = (name: string) => path.join(repoRoot(), 'packages', 'train', 'src', 'cli', `${name}.ts`);

let tmp: string;
/** Where the demo dataset would be generated: it must never appear. */
let demo: string;

beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'parts-first-steps-'));
  demo = path.join(tmp, 'demo');
});
afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

async function run(name: string, args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, PARTS_DEMO_DIR: demo, INIT_CWD: tmp };
  delete env.DEBUG;
  return exec(tsx, [cli(name), ...args], { env, cwd: tmp }).then(
    (r) => ({ code: 0, stderr: r.stderr, stdout: r.stdout }),
    (e: { code: number; stderr: string; stdout: string }) => ({ code: e.code, stderr: e.stderr, stdout: e.stdout }),
  );
}

/** Refused at once: exit 1, one line, no backend started, no demo dataset generated. */
async function expectRefused(r: { code: number; stderr: string }): Promise<void> {
  expect(r.code).toBe(1);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).not.toMatch(/^backend:|^\s+at /m);
  expect(r.stderr).not.toMatch(/generating the demo dataset/);
  await expect(fsp.stat(demo)).rejects.toThrow();
}

describe('pnpm train refuses bad options before generating the demo dataset', () => {
  it('--epochs -3', async () => {
    const r = await run('train', ['--epochs', '-3']);
    expect(r.stderr).toMatch(/^error: --epochs must be an integer >= 1 \(got -3\)$/m);
    await expectRefused(r);
  });

  it('an unknown --arch lists the choices', async () => {
    const r = await run('train', ['--arch', 'resnet9000']);
    expect(r.stderr).toMatch(/^error: unknown architecture "resnet9000"; known: /m);
    for (const name of ['partsnet', 'tinyvgg', 'vgg16', 'resnet50', 'inception', 'efficientnet']) expect(r.stderr).toContain(name);
    await expectRefused(r);
  });

  it('a --data folder that does not exist', async () => {
    const r = await run('train', ['--data', 'no-such-dataset']);
    expect(r.stderr).toMatch(/^error: --data: .*no-such-dataset does not exist; leave out --data to use the demo dataset/m);
    await expectRefused(r);
  });

  it('--weights on a from-scratch model', async () => {
    const r = await run('train', ['--arch', 'tinyvgg', '--weights', 'imagenet']);
    expect(r.stderr).toMatch(/^error: --weights applies to the pretrained bases/m);
    await expectRefused(r);
  });
});

describe('pnpm predict before anything was promoted', () => {
  it('names the commands that make a model, before a backend starts', async () => {
    const r = await run('predict', ['--model', path.join(tmp, 'no-model'), 'photo.jpg']);
    expect(r.stderr).toMatch(/^error: no model to use: .*no-model does not exist; run `pnpm study`, or `pnpm train` then `pnpm evaluate --promote`$/m);
    await expectRefused(r);
  });
});

describe('ImageNet weights offline', () => {
  it('the error names pnpm diagnose and --weights none', () => {
    const e = new WeightsUnavailableError('https://example.invalid/w.h5', 'w.h5', '/cache', '0'.repeat(32), 'ENOTFOUND');
    expect(e.message).toMatch(/--weights none/);
    expect(e.message).toMatch(/`pnpm diagnose`/);
  });
});
