import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import { repoRoot } from '@parts/cli';
import { makeModel, photos, tamperWeights, tempDir, writeTestParity } from './fixtures';

let dir: string;
let jpeg: Buffer;

beforeAll(async () => {
  await initBackend('cpu', () => {});
  dir = await tempDir();
  await makeModel(path.join(dir, 'run', 'model'), { runId: 'tiny-cli', imgSize: 32 });
  jpeg = await fsp.readFile((await photos()).small[0]!);
});

afterAll(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

describe('pnpm serve', () => {
  it('serves a run folder and on SIGTERM finishes the request in flight, then exits 0', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'packages/serve/src/cli/serve.ts', '--model', path.join(dir, 'run'), '--port', '0', '--workers', '0', '--backend', 'cpu', '--watch-ms', '0'],
      { cwd: repoRoot(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
        const m = /serving tiny-cli .* at (http:\/\/\S+?)\/\n/.exec(stderr);
        if (m) resolve(m[1]!);
      });
      void exited.then((code) => reject(new Error(`serve exited (${code}) before listening:\n${stderr}`)));
    });
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    // A request whose body is half sent is in flight when SIGTERM arrives.
    const req = http.request(`${url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg', 'content-length': String(jpeg.length) } });
    const answer = new Promise<{ status: number; body: any }>((resolve, reject) => {
      req.on('response', (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      });
      req.on('error', reject);
    });
    req.write(jpeg.subarray(0, 500));
    // (Conditions, not sleeps: the server counts the request as in flight; it has begun shutting
    // down, which closes its listener in the same tick as it prints this line.)
    const stats = async () => (await (await fetch(`${url}/api/stats`)).json()) as { active: number };
    while ((await stats()).active !== 1) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGTERM');
    while (!/SIGTERM: finishing requests in flight/.test(stderr)) await new Promise((r) => setTimeout(r, 50));
    // No longer accepting new connections...
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    // ...but the one in flight is answered.
    req.end(jpeg.subarray(500));
    const r = await answer;
    expect(r.status).toBe(200);
    expect(r.body.model.id).toBe('tiny-cli');
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/SIGTERM: finishing requests in flight/);
  });

  it('stays up with a refused model: /healthz 200, /readyz 503 with the reason, then exits 0 on SIGTERM', async () => {
    const modelDir = path.join(dir, 'tampered');
    await makeModel(modelDir, { runId: 'tiny-tampered', imgSize: 32, seed: 2 });
    await writeTestParity(modelDir);
    await tamperWeights(modelDir);
    const child = spawn(process.execPath, ['--import', 'tsx', 'packages/serve/src/cli/serve.ts', '--model', modelDir, '--port', '0', '--workers', '0', '--backend', 'cpu', '--watch-ms', '0'], {
      cwd: repoRoot(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
        const m = /listening at (http:\/\/\S+?)\/ without a model/.exec(stderr);
        if (m) resolve(m[1]!);
      });
      void exited.then((code) => reject(new Error(`serve exited (${code}):\n${stderr}`)));
    });
    expect(stderr).toMatch(/model tiny-tampered refused: parity check failed: probabilities differ/);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { reason: string }).reason).toMatch(/model tiny-tampered was refused: parity check failed/);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('exits 1 with a clear message naming the next command when there is no model, before a backend starts', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'packages/serve/src/cli/serve.ts', '--model', path.join(dir, 'missing'), '--port', '0', '--workers', '0'], {
      cwd: repoRoot(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(1);
    expect(stderr).toMatch(/^serve: no model to serve: .*missing does not exist; run `pnpm study`, or `pnpm train` then `pnpm evaluate --promote`\n$/);
  });
});
