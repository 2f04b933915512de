import { existsSync, promises as fsp } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import { createServer, type PartsServer } from '../src/index';
import { openLogDatabase } from '../src/log/db';
import { photoHash } from '../src/log/photo-store';
import { listReviewedPhotos } from '../src/log/review-store';
import { makeModel, multipart, photos, request, tempDir } from './fixtures';
import { databaseFor, DIALECTS } from './postgres';

// The prediction log and the review API through a real server (model on this thread).
let dir: string;
let jpeg: Buffer;
let other: Buffer;
const servers: PartsServer[] = [];

beforeAll(async () => {
  await initBackend('cpu', () => {});
  dir = await tempDir('log-api-');
  await makeModel(path.join(dir, 'model'), { runId: 'tiny-log', imgSize: 32 });
  const { big, small } = await photos();
  jpeg = await fsp.readFile(big[0]!);
  other = await fsp.readFile(small[0]!);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await fsp.rm(dir, { recursive: true, force: true });
});

async function start(o: Partial<Parameters<typeof createServer>[0]> = {}): Promise<PartsServer> {
  const s = await createServer({ modelDir: path.join(dir, 'model'), port: 0, workers: 0, backend: 'cpu', watchIntervalMs: 0, log: () => {}, ...o });
  servers.push(s);
  return s;
}

const REVIEW = { 'content-type': 'application/json', 'x-parts-review': '1' };
const postJson = (url: string, body: unknown, headers: Record<string, string> = REVIEW) => request(url, { method: 'POST', headers, body: JSON.stringify(body) });

describe('prediction log through POST /api/predict', () => {
  it('records each answer with its photo once by hash, source from the form field or X-Source', async () => {
    const dataDir = path.join(dir, 'data-roundtrip');
    const s = await start({ predictionLog: { dataDir } });
    const m = multipart([
      { field: 'source', data: 'line-7' },
      { field: 'image', filename: 'a.jpg', type: 'image/jpeg', data: jpeg },
    ]);
    const r1 = await request(`${s.url}/api/predict`, { method: 'POST', headers: { 'content-type': m.contentType }, body: m.body });
    expect(r1.status).toBe(200);
    const r2 = await request(`${s.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg', 'x-source': 'cam 2' }, body: jpeg });
    const r3 = await request(`${s.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: other });
    expect([r2.status, r3.status]).toEqual([200, 200]);
    const ids = [r1, r2, r3].map((r) => Number(r.headers['x-prediction-log']));
    expect(ids.every((i) => i > 0)).toBe(true);
    const stats = (await request(`${s.url}/api/stats`)).json;
    expect(stats.log).toMatchObject({ enabled: true, recorded: 3, failed: 0, dataDir });
    const { db } = await openLogDatabase(dataDir);
    try {
      const rows = await db.selectFrom('predictions').selectAll().orderBy('id').execute();
      expect(rows.map((r) => [r.id, r.source, r.file_name, r.photo_hash, r.model_id])).toEqual([
        [ids[0], 'line-7', 'a.jpg', photoHash(jpeg), 'tiny-log'],
        [ids[1], 'cam 2', null, photoHash(jpeg), 'tiny-log'],
        [ids[2], null, null, photoHash(other), 'tiny-log'],
      ]);
      const r = rows[0]!;
      expect([r.label, r.top, r.unknown, r.probability]).toEqual([r1.json.label, r1.json.top, 0, r1.json.probability]);
      expect(JSON.parse(r.probabilities)).toEqual(r1.json.probabilities);
      expect(r.latency_ms).toBe(r1.json.latencyMs);
      expect(await db.selectFrom('photos').select('hash').execute()).toHaveLength(2);
      const blob = await db.selectFrom('photo_blobs').select('content').where('hash', '=', photoHash(jpeg)).executeTakeFirstOrThrow();
      expect(photoHash(blob.content)).toBe(photoHash(jpeg));
    } finally {
      await db.destroy();
    }
    // The stored photo is served back for the page.
    const photo = await request(`${s.url}/api/review/photo?hash=${photoHash(jpeg)}`);
    expect([photo.status, photo.headers['content-type']]).toEqual([200, 'image/jpeg']);
    // A source that is too long is refused with the field named.
    const bad = await request(`${s.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg', 'x-source': 'x'.repeat(200) }, body: jpeg });
    expect([bad.status, bad.json.code]).toEqual([400, 'bad-source']);
  });

  it('records nothing without a log (--no-log)', async () => {
    const s = await start();
    const r = await request(`${s.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: jpeg });
    expect(r.status).toBe(200);
    expect(r.headers['x-prediction-log']).toBeUndefined();
    expect((await request(`${s.url}/api/stats`)).json.log).toEqual({ enabled: false });
    expect((await request(`${s.url}/api/review/queue`)).status).toBe(404);
  });

  it('still answers 200 when the database is locked, and counts the failure in /api/stats', async () => {
    const dataDir = path.join(dir, 'data-locked');
    const s = await start({ predictionLog: { dataDir, busyTimeoutMs: 50 } });
    const holder = await openLogDatabase(dataDir);
    holder.sqlite!.exec('BEGIN EXCLUSIVE');
    try {
      const r = await request(`${s.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: jpeg });
      expect(r.status).toBe(200);
      expect(r.json.label).toBeTruthy();
      expect(r.headers['x-prediction-log']).toBeUndefined();
      const log = (await request(`${s.url}/api/stats`)).json.log;
      expect(log).toMatchObject({ recorded: 0, failed: 1 });
      expect(log.lastError).toMatch(/locked|busy/i);
    } finally {
      holder.sqlite!.exec('ROLLBACK');
      await holder.db.destroy();
    }
    const { db } = await openLogDatabase(dataDir);
    expect(await db.selectFrom('predictions').selectAll().execute()).toEqual([]);
    await db.destroy();
  });

  it('still answers 200 when the data folder cannot be used, counting each photo as failed', async () => {
    const blocked = path.join(dir, 'not-a-folder');
    await fsp.writeFile(blocked, 'a file where the data folder should be');
    const s = await start({ predictionLog: { dataDir: blocked } });
    const r = await request(`${s.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: jpeg });
    expect(r.status).toBe(200);
    const log = (await request(`${s.url}/api/stats`)).json.log;
    expect(log).toMatchObject({ failed: 1, recorded: 0 });
    expect(log.lastError).toMatch(/prediction log unavailable/);
  });

  it('refuses to start on a corrupt database, naming the file and how to recover', async () => {
    const dataDir = path.join(dir, 'data-corrupt');
    await fsp.mkdir(dataDir, { recursive: true });
    await fsp.writeFile(path.join(dataDir, 'log.sqlite'), Buffer.alloc(4096, 7));
    await expect(start({ predictionLog: { dataDir } })).rejects.toThrow(/log\.sqlite is corrupt.*To recover/);
  });
});

describe.each(DIALECTS)('review API on %s', (dialect) => {
  let s: PartsServer;
  let dataDir: string;
  let db: string | undefined;
  let ids: number[];
  const listReviewed = () => listReviewedPhotos(dataDir, { db });
  beforeAll(async () => {
    dataDir = path.join(dir, `data-review-${dialect}`);
    db = await databaseFor(dialect);
    // A review rate of one request a minute past a burst of 60: the test's requests stay inside the burst,
    // and the rate-limit test below empties it whatever this machine's speed.
    s = await start({ predictionLog: { dataDir, db }, reviewRate: { perMinute: 1, burst: 60 } });
    ids = [];
    for (const b of [jpeg, other]) {
      const r = await request(`${s.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg', 'x-source': 'cam-1' }, body: b });
      ids.push(Number(r.headers['x-prediction-log']));
    }
  });

  it('lists the queue, labels a photo, keeps history, undoes, and 404s a missing record', async () => {
    const q = (await request(`${s.url}/api/review/queue`)).json;
    expect(q.pending).toBe(2);
    expect(q.sampleShare).toBe(0.1);
    expect(q.labels).toEqual(['big', 'small']);
    expect(q.groups.flatMap((g: any) => g.items.map((i: any) => i.id)).sort()).toEqual([...ids].sort());
    const d = await postJson(`${s.url}/api/review/decide`, { ids: [ids[0]], action: 'new-class', label: 'nut', reviewer: 'ann' });
    expect(d.status).toBe(200);
    expect(d.json.decisions[0]).toMatchObject({ label: 'nut', reviewer: 'ann', action: 'new-class', hash: photoHash(jpeg) });
    expect((await request(`${s.url}/api/review/queue`)).json.pending).toBe(1);
    expect((await request(`${s.url}/api/review/queue`)).json.newClasses).toEqual(['nut']);
    const later = await postJson(`${s.url}/api/review/decide`, { ids: [ids[0]], action: 'not-a-part', reviewer: 'bo' });
    expect((await listReviewed()).map((p) => [p.label, p.reviewer, p.source])).toEqual([['not-a-part', 'bo', 'cam-1']]);
    const h = (await request(`${s.url}/api/review/history?hash=${photoHash(jpeg)}`)).json;
    expect(h.decisions.map((x: any) => x.reviewer)).toEqual(['ann', 'bo']);
    const u = await postJson(`${s.url}/api/review/undo`, { batch: later.json.batch, reviewer: 'bo' });
    expect(u.status).toBe(200);
    expect((await listReviewed()).map((p) => p.label)).toEqual(['nut']);
    const missing = await postJson(`${s.url}/api/review/decide`, { ids: [987654], action: 'confirm', reviewer: 'ann' });
    expect([missing.status, missing.json.code]).toEqual([404, 'not-found']);
    expect((await request(`${s.url}/api/review/photo?hash=${'0'.repeat(64)}`)).status).toBe(404);
    const tooBig = await postJson(`${s.url}/api/review/decide`, { ids: [ids[1]], action: 'confirm', reviewer: 'ann', pad: 'x'.repeat(70_000) });
    expect(tooBig.status).toBe(413);
  });

  it('gives the Grad-CAM overlay of a stored photo', async () => {
    const r = await request(`${s.url}/api/review/explain?hash=${photoHash(other)}`);
    expect(r.status).toBe(200);
    expect(r.json.model).toBe('tiny-log');
    expect(r.json.explanation.overlay ?? r.json.explanation.error).toBeTruthy();
  });

  it('refuses cross-site and header-less state changes (CSRF) without changing anything', async () => {
    const before = (await listReviewed()).length;
    const body = { ids: [ids[1]], action: 'confirm', reviewer: 'mallory' };
    // What a cross-site HTML form can send: urlencoded, no custom header, a foreign Origin.
    const form = await request(`${s.url}/api/review/decide`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' },
      body: 'ids=1&action=confirm&reviewer=mallory',
    });
    expect([form.status, form.json.code]).toEqual([403, 'cross-site']);
    const noHeader = await postJson(`${s.url}/api/review/decide`, body, { 'content-type': 'application/json' });
    expect([noHeader.status, noHeader.json.code]).toEqual([403, 'csrf']);
    const foreign = await postJson(`${s.url}/api/review/decide`, body, { ...REVIEW, origin: 'http://evil.example' });
    expect(foreign.status).toBe(403);
    const textPlain = await postJson(`${s.url}/api/review/decide`, body, { 'content-type': 'text/plain', 'x-parts-review': '1' });
    expect(textPlain.status).toBe(415);
    const retrain = await request(`${s.url}/api/review/retrain`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://evil.example' }, body: 'x=1' });
    expect(retrain.status).toBe(403);
    expect((await listReviewed()).length).toBe(before);
    // The page's own request (same origin, header, JSON) is accepted.
    const ok = await postJson(`${s.url}/api/review/decide`, body, { ...REVIEW, origin: s.url, 'sec-fetch-site': 'same-origin' });
    expect(ok.status).toBe(200);
  });

  it('refuses a page of another name that resolves to this machine (DNS rebinding): reads and changes', async () => {
    const port = new URL(s.url).port;
    const rebound = { host: `rebind.example:${port}`, origin: `http://rebind.example:${port}`, 'sec-fetch-site': 'same-origin' };
    const before = (await listReviewed()).length;
    const change = await postJson(`${s.url}/api/review/decide`, { ids: [ids[1]], action: 'confirm', reviewer: 'mallory' }, { ...REVIEW, ...rebound });
    expect([change.status, change.json.code]).toEqual([403, 'forbidden']);
    const read = await request(`${s.url}/api/review/queue`, { headers: { host: `rebind.example:${port}` } });
    expect(read.status).toBe(403);
    expect((await listReviewed()).length).toBe(before);
    // The same requests naming this machine pass.
    expect((await request(`${s.url}/api/review/queue`, { headers: { host: `localhost:${port}` } })).status).toBe(200);
  });

  // The limiter is the server's, not the store's: once is enough.
  it.runIf(dialect === 'sqlite')('rate-limits state-changing requests', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 70; i++) codes.push((await postJson(`${s.url}/api/review/undo`, { batch: 'none', reviewer: 'ann' })).status);
    expect(codes).toContain(429);
    expect(codes.filter((c) => c === 404).length).toBeGreaterThan(0);
  });
});

describe('loopback rule', () => {
  const external = Object.values(os.networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  it.skipIf(!external)('refuses state-changing review requests from another machine', async () => {
    const s = await start({ host: '0.0.0.0', predictionLog: { dataDir: path.join(dir, 'data-remote') }, access: { insecureNoAuth: true } });
    const url = `http://${external}:${s.port}`;
    const r = await postJson(`${url}/api/review/decide`, { ids: [1], action: 'confirm', reviewer: 'x' }, { ...REVIEW, origin: url });
    expect([r.status, r.json.code]).toEqual([403, 'forbidden']);
    expect(r.json.error).toMatch(/loopback/);
    // Reading the queue (every logged photo) is for this machine too while there are no accounts.
    expect((await request(`${url}/api/review/queue`)).status).toBe(403);
  });
});

/** Opens POST /api/predict requests whose bodies never finish: each holds an admission place until destroyed. */
async function holdPlaces(s: PartsServer, n: number): Promise<http.ClientRequest[]> {
  const held: http.ClientRequest[] = [];
  for (let i = 0; i < n; i++) {
    const req = http.request(`${s.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg', 'content-length': String(jpeg.length) } });
    req.on('error', () => {});
    req.write(jpeg.subarray(0, 100));
    held.push(req);
  }
  await until(async () => (await request(`${s.url}/api/stats`)).json.active === n);
  return held;
}

async function until(f: () => Promise<boolean>): Promise<void> {
  while (!(await f())) await new Promise((r) => setTimeout(r, 20));
}

describe('admission of model work', () => {
  it('the Grad-CAM of a stored photo takes an admission place like a prediction: 503 busy when all are taken', async () => {
    const dataDir = path.join(dir, 'data-admission');
    const s = await start({ predictionLog: { dataDir }, queueLimit: 0 });
    const logged = await request(`${s.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: other });
    expect(logged.status).toBe(200);
    const places = (await request(`${s.url}/api/stats`)).json.admitLimit;
    expect(places).toBeGreaterThan(0);
    const held = await holdPlaces(s, places);
    try {
      const busy = await request(`${s.url}/api/review/explain?hash=${photoHash(other)}`);
      expect([busy.status, busy.json.code, busy.headers['retry-after']]).toEqual([503, 'busy', '1']);
      // The same bound as a prediction's.
      const predict = await request(`${s.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: other });
      expect([predict.status, predict.json.code]).toEqual([503, 'busy']);
      expect((await request(`${s.url}/api/stats`)).json.rejectedBusy).toBe(2);
    } finally {
      for (const r of held) r.destroy();
    }
    await until(async () => (await request(`${s.url}/api/stats`)).json.active === 0);
    const ok = await request(`${s.url}/api/review/explain?hash=${photoHash(other)}`);
    expect(ok.status).toBe(200);
    // Its place is given back after the answer.
    expect((await request(`${s.url}/api/stats`)).json.active).toBe(0);
  });
});

describe('start-up failures', () => {
  it('a taken port fails the start and leaves the log database closed', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const port = (taken.address() as net.AddressInfo).port;
    const dataDir = path.join(dir, 'data-port-taken');
    try {
      await expect(start({ port, predictionLog: { dataDir } })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await new Promise((r) => taken.close(r));
    }
    const file = path.join(dataDir, 'log.sqlite');
    expect(existsSync(file)).toBe(true);
    // No descriptor of this process points at the database or its WAL any more.
    expect(await openDescriptors(dataDir)).toEqual([]);
    // And it can be taken exclusively.
    const { sqlite, db } = await openLogDatabase(dataDir);
    try {
      if (!sqlite) throw new Error('expected the SQLite log');
      sqlite.pragma('locking_mode = EXCLUSIVE');
      expect(() => sqlite.exec('BEGIN EXCLUSIVE; COMMIT')).not.toThrow();
    } finally {
      await db.destroy();
    }
  });
});

/** Files under `folder` this process holds open (Linux: /proc/self/fd); [] where /proc is absent. */
async function openDescriptors(folder: string): Promise<string[]> {
  const fdDir = '/proc/self/fd';
  if (!existsSync(fdDir)) return [];
  const out: string[] = [];
  for (const fd of await fsp.readdir(fdDir)) {
    const target = await fsp.readlink(path.join(fdDir, fd)).catch(() => '');
    if (target.startsWith(path.resolve(folder) + path.sep)) out.push(target);
  }
  return out;
}

describe('without the log (--no-log)', () => {
  it('the upload page has no link to /review, and /review says the log is off', async () => {
    const s = await start();
    const page = await request(`${s.url}/`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('<h1>Parts classifier</h1>');
    expect(page.text).not.toContain('href="/review"');
    const review = await request(`${s.url}/review`);
    expect(review.status).toBe(404);
    expect(review.text).toMatch(/prediction log is off/);
    expect(review.text).not.toContain('id="queue-list"');
    // With the log, both are there.
    const on = await start({ predictionLog: { dataDir: path.join(dir, 'data-page') } });
    expect((await request(`${on.url}/`)).text).toContain('href="/review"');
    const r = await request(`${on.url}/review`);
    expect([r.status, r.text.includes('id="queue-list"')]).toEqual([200, true]);
  });
});
