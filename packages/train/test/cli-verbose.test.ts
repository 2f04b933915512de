// Every CLI takes --verbose (added by runCli): it sets PARTS_VERBOSE for the backend's start-up log.
// Checked on predict, a command that does not train: quiet, it prints one backend line and no kernel list.
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '@parts/cli';

const exec = promisify(execFile);
const tsx = path.join(repoRoot(), 'node_modules', '.bin', 'tsx');
const predict = path.join(repoRoot(), 'packages', 'train', 'src', 'cli', 'predict.ts');

/** predict with a model folder whose classifier.json is not a classifier: it starts the backend, then stops with exit 1. */
async function run(extra: string[]): Promise<{ code: number; stderr: string }> {
  const env = { ...process.env };
  delete env.PARTS_VERBOSE;
  const broken = await fsp.mkdtemp(path.join(os.tmpdir(), 'parts-broken-model-'));
  await fsp.writeFile(path.join(broken, 'classifier.json'), '{}');
  return exec(tsx, [predict, '--backend', 'wasm', '--model', broken, ...extra, 'photo.jpg'], { env }).then(
    (r) => ({ code: 0, stderr: r.stderr }),
    (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
  );
}

describe('--verbose', () => {
  it('predict prints one backend line by default, and the wasm kernel list only with --verbose', async () => {
    const quiet = await run([]);
    const verbose = await run(['--verbose']);
    for (const r of [quiet, verbose]) {
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^error: .*parts-broken-model-.*classifier\.json/m);
    }
    const lines = quiet.stderr.split('\n').filter((l) => l.startsWith('backend:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^backend: wasm on CPU \(wasm( SIMD)?, \d+ threads?\)( \+ oneDNN kernels)?$/);
    expect(quiet.stderr).not.toContain('registered wasm training kernels');
    expect(verbose.stderr).toMatch(/^backend: registered wasm training kernels Conv2DBackpropFilter/m);
  });
});
