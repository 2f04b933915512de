import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import { repoRoot } from '@parts/cli';
import { openLogDatabase } from '../src/log/db';
import { photoHash } from '../src/log/photo-store';
import { makeModel, photos, tamperWeights, tempDir, writeTestParity } from './fixtures';

let dir: string;
let jpeg: Buffer;

/** Starts `pnpm serve` on the test model with `args`; resolves once it prints that it serves. */
function startServe(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'packages/serve/src/cli/serve.ts', '--model', path.join(dir, 'run'), '--port', '0', '--workers', '0', '--backend', 'cpu', '--watch-ms', '0', ...args], {
    cwd: repoRoot(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stderr: '' };
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  const url = new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (c: Buffer) => {
      out.stderr += c.toString();
      const m = /serving tiny-cli .* at (http:\/\/\S+?)\/\n/.exec(out.stderr);
      if (m) resolve(m[1]!);
    });
    void exited.then((e) => reject(new Error(`serve exited (${e.code}) before listening:\n${out.stderr}`)));
  });
  return { child, out, exited, url };
}

/** A predict request whose body is sent in two halves: the first now, the rest when `finish()` is called. */
function halfSentPredict(url: string, body: Buffer) {
  const req = http.request(`${url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg', 'content-length': String(body.length) } });
  const answer = new Promise<{ status: number; ids: string | undefined; body: any }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, ids: res.headers['x-prediction-log'] as string | undefined, body: JSON.parse(text) }));
    });
    req.on('error', reject);
  });
  req.write(body.subarray(0, 500));
  return { answer, finish: () => req.end(body.subarray(500)) };
}

const until = async (what: () => Promise<boolean> | boolean) => {
  while (!(await what())) await new Promise((r) => setTimeout(r, 50));
};

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

  it('drains on SIGTERM with the prediction log on: every request in flight is answered and logged, then the log closes and it exits 0', async () => {
    const dataDir = path.join(dir, 'drain-log');
    const s = startServe(['--data-dir', dataDir]);
    const url = await s.url;
    // Four different photos (one log row each), each request half sent when the signal arrives.
    const { big, small } = await photos();
    const bodies = await Promise.all([...big.slice(0, 2), ...small.slice(0, 2)].map((f) => fsp.readFile(f)));
    const inFlight = bodies.map((b) => halfSentPredict(url, b));
    await until(async () => ((await (await fetch(`${url}/api/stats`)).json()) as { active: number }).active === bodies.length);
    s.child.kill('SIGTERM');
    await until(() => /SIGTERM: finishing requests in flight/.test(s.out.stderr));
    await expect(fetch(`${url}/readyz`)).rejects.toThrow(); // the listener is closed
    for (const r of inFlight) r.finish();
    const answers = await Promise.all(inFlight.map((r) => r.answer));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    expect(await s.exited).toEqual({ code: 0, signal: null });
    // Every acknowledged prediction is in the log, with its photo; the database was closed cleanly.
    const { db, sqlite } = await openLogDatabase(dataDir);
    try {
      expect(sqlite!.pragma('integrity_check', { simple: true })).toBe('ok');
      const rows = await db.selectFrom('predictions').select(['id', 'photo_hash']).execute();
      expect(rows).toHaveLength(bodies.length);
      const logged = new Map(rows.map((r) => [String(r.id), r.photo_hash]));
      answers.forEach((a, i) => expect(logged.get(a.ids ?? '')).toBe(photoHash(bodies[i]!)));
    } finally {
      await db.destroy();
    }
  });

  it('exits at once, status 1, on a second signal during the drain', async () => {
    const s = startServe(['--no-log']);
    const url = await s.url;
    const stuck = halfSentPredict(url, jpeg);
    const outcome = stuck.answer.then(() => 'answered', (e: NodeJS.ErrnoException) => e.code);
    await until(async () => ((await (await fetch(`${url}/api/stats`)).json()) as { active: number }).active === 1);
    s.child.kill('SIGTERM');
    await until(() => /SIGTERM: finishing requests in flight/.test(s.out.stderr));
    // The request in flight cannot finish (its body is never completed): only the second signal ends the process.
    s.child.kill('SIGINT');
    expect(await s.exited).toEqual({ code: 1, signal: null });
    expect(s.out.stderr).toMatch(/SIGINT again: exiting now, without finishing the requests in flight/);
    expect(await outcome).toBe('ECONNRESET');
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
