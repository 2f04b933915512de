import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import { repoRoot } from '@parts/cli';
import { openLogDatabase } from '../src/log/db';
import { photoHash } from '../src/log/photo-store';
import { makeModel, PARTS, request, tempDir } from './fixtures';

// kill -9 of `pnpm serve` in the middle of a burst of 200 predictions (8 at a time): every
// prediction answered 200 must be in the log after the kill, with its complete photo, and the
// database must open cleanly (integrity check) and be served again.
let dir: string;
let images: Buffer[];

beforeAll(async () => {
  await initBackend('cpu', () => {});
  dir = await tempDir('log-crash-');
  await makeModel(path.join(dir, 'run', 'model'), { runId: 'tiny-crash', imgSize: 32 });
  const files: string[] = [];
  for (const split of ['test', 'train']) {
    for (const c of ['big', 'small']) {
      const d = path.join(PARTS, split, c);
      for (const f of (await fsp.readdir(d).catch(() => [] as string[])).sort()) files.push(path.join(d, f));
    }
  }
  images = await Promise.all(files.slice(0, 40).map((f) => fsp.readFile(f)));
});

afterAll(() => fsp.rm(dir, { recursive: true, force: true }));

function startServe(dataDir: string): Promise<{ child: ChildProcess; url: string; exited: Promise<unknown> }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'packages/serve/src/cli/serve.ts', '--model', path.join(dir, 'run'), '--port', '0', '--workers', '1', '--backend', 'cpu', '--watch-ms', '0', '--queue', '64', '--data-dir', dataDir],
    { cwd: repoRoot(), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  const exited = new Promise((r) => child.on('exit', r));
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
      const m = /serving tiny-crash .* at (http:\/\/\S+?)\/\n/.exec(stderr);
      if (m) resolve({ child, url: m[1]!, exited });
    });
    void exited.then((code) => reject(new Error(`serve exited (${code}) before listening:\n${stderr}`)));
  });
}

describe('prediction log under kill -9', () => {
  it('keeps every prediction answered 200 and opens cleanly after a restart', async () => {
    const dataDir = path.join(dir, 'data');
    const { child, url, exited } = await startServe(dataDir);
    const answered: Array<{ id: number; hash: string }> = [];
    let sent = 0;
    let killed = false;
    const KILL_AFTER = 120;
    const client = async () => {
      while (sent < 200 && !killed) {
        const img = images[sent % images.length]!;
        sent++;
        try {
          const r = await request(`${url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg', 'x-source': 'burst' }, body: img });
          if (r.status !== 200) continue;
          const id = Number(r.headers['x-prediction-log']);
          expect(id).toBeGreaterThan(0);
          answered.push({ id, hash: photoHash(img) });
          if (answered.length === KILL_AFTER && !killed) {
            killed = true;
            child.kill('SIGKILL'); // other requests are in flight now
          }
        } catch {
          // connection cut by the kill
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, client));
    await exited;
    expect(killed).toBe(true);
    expect(answered.length).toBeGreaterThanOrEqual(KILL_AFTER);

    const { db, sqlite } = await openLogDatabase(dataDir);
    try {
      expect(sqlite!.pragma('integrity_check', { simple: true })).toBe('ok');
      const rows = await db.selectFrom('predictions').select(['id', 'photo_hash']).execute();
      const logged = new Map(rows.map((r) => [r.id, r.photo_hash]));
      for (const a of answered) expect(logged.get(a.id)).toBe(a.hash);
      // Every row's photo is there and complete.
      const blobs = new Map((await db.selectFrom('photo_blobs').select(['hash', 'content']).execute()).map((b) => [b.hash, b.content]));
      for (const p of await db.selectFrom('photos').select('hash').execute()) expect(photoHash(blobs.get(p.hash)!)).toBe(p.hash);
    } finally {
      await db.destroy();
    }
    // The server starts again on the same folder and keeps logging.
    const again = await startServe(dataDir);
    try {
      const r = await request(`${again.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: images[0]! });
      expect(r.status).toBe(200);
      expect(Number(r.headers['x-prediction-log'])).toBeGreaterThan(Math.max(...answered.map((a) => a.id)));
      // Recording creates no file beside the database (the photos are rows).
      expect((await fsp.readdir(dataDir)).filter((f) => !f.startsWith('log.sqlite'))).toEqual([]);
    } finally {
      again.child.kill('SIGTERM');
      await again.exited;
    }
  });
});
