// The model registry in the shared database: models stored by content and materialised back
// intact, the promotion history, and servers started with a registry following promotions and
// rollbacks (LISTEN/NOTIFY, polling as the fallback), refusing a model that fails its parity check
// while they keep serving the one they had.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import { openLogDatabase } from '../src/log/db';
import { createServer, type PartsServer } from '../src/index';
import { splitPassword } from '../src/server';
import { currentPromotion, listPromotions, listRefusals, materialiseModel, modelHash, readModelFiles, recordPromotion } from '../src/registry/model-registry';
import { recordInRegistry } from '../src/registry/registry-client';
import { makeModel, photos, request, tamperWeights, tempDir, writeTestParity } from './fixtures';
import { databaseFor, DIALECTS, POSTGRES_MISSING, testPostgres } from './postgres';

let dir: string;
let jpeg: Buffer;
const servers: PartsServer[] = [];

/** A model folder as promotion leaves it: the model and its parity record. */
async function promoted(name: string, runId: string, seed: number): Promise<string> {
  const modelDir = path.join(dir, name);
  await makeModel(modelDir, { runId, imgSize: 32, seed });
  await writeTestParity(modelDir);
  return modelDir;
}

/** Waits for a condition with a generous deadline (a loaded shared machine is slow; nothing is timed). */
async function until(what: string, cond: () => Promise<boolean> | boolean, ms = 300_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  await initBackend('cpu', () => {});
  dir = await tempDir('serve-registry-');
  jpeg = await fsp.readFile((await photos()).big[0]!);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await fsp.rm(dir, { recursive: true, force: true });
});

describe.each(DIALECTS)('model registry on %s', (dialect) => {
  it('stores a model by content in one promotion, materialises it intact, keeps the history, refuses a damaged copy', async () => {
    const url = await databaseFor(dialect);
    const { db } = await openLogDatabase(await tempDir('registry-db-'), { url });
    try {
      const a = await promoted(`rt-a-${dialect}`, 'tiny-a', 1);
      const b = await promoted(`rt-b-${dialect}`, 'tiny-b', 2);
      expect(await currentPromotion(db)).toBeNull();
      const first = await recordPromotion(db, a, { action: 'promote', note: 'best by the rule', actor: 'ann@line-1' });
      expect(first).toMatchObject({ changed: true, action: 'promote', runId: 'tiny-a', previousHash: null, actor: 'ann@line-1', note: 'best by the rule' });
      const files = await readModelFiles(a);
      expect(first.modelHash).toBe(modelHash(files));
      // The parity record's photos travel with the model.
      expect(files.map((f) => f.path)).toEqual(expect.arrayContaining(['classifier.json', 'model.json', 'weights.bin', 'parity.json']));
      expect(files.some((f) => f.path.startsWith('parity/'))).toBe(true);
      // The same folder again: no new row.
      expect(await recordPromotion(db, a, { action: 'promote' })).toMatchObject({ changed: false, id: first.id });
      const second = await recordPromotion(db, b, { action: 'promote', actor: 'bo@line-2' });
      expect(second).toMatchObject({ changed: true, runId: 'tiny-b', previousHash: first.modelHash });
      const back = await recordPromotion(db, a, { action: 'rollback', note: 'pnpm rollback' });
      expect(back).toMatchObject({ changed: true, action: 'rollback', modelHash: first.modelHash, previousHash: second.modelHash });
      expect((await listPromotions(db)).map((p) => [p.action, p.runId])).toEqual([
        ['promote', 'tiny-a'],
        ['promote', 'tiny-b'],
        ['rollback', 'tiny-a'],
      ]);
      // Stored once per content: three promotions, two models.
      expect(Number((await db.selectFrom('models').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)).toBe(2);

      const cache = await tempDir('registry-cache-');
      const out = await materialiseModel(db, second.modelHash, cache);
      expect(out).toBe(path.join(cache, second.modelHash));
      const copied = await readModelFiles(out);
      expect(copied.map((f) => [f.path, f.sha256])).toEqual((await readModelFiles(b)).map((f) => [f.path, f.sha256]));
      expect((await fsp.readdir(cache)).filter((n) => n.includes('.tmp-'))).toEqual([]);

      // A changed byte in the database is caught before anything is put in place.
      await db.updateTable('model_files').set({ content: Buffer.from('not the weights') }).where('model_hash', '=', first.modelHash).where('path', '=', 'weights.bin').execute();
      await expect(materialiseModel(db, first.modelHash, cache)).rejects.toThrow(/weights\.bin does not match its sha256/);
      expect(await fsp.readdir(cache)).toEqual([second.modelHash]);
    } finally {
      await db.destroy();
    }
  });
});

describe('the retrain job of a server with --db', () => {
  it('gets the database password in its environment, not on its command line (shown on the review page)', () => {
    expect(splitPassword('postgres://ann:s%40cret@db.local:5432/parts')).toEqual({ url: 'postgres://ann@db.local:5432/parts', password: 's@cret' });
    expect(splitPassword('postgres://ann@db.local/parts')).toEqual({ url: 'postgres://ann@db.local/parts', password: null });
  });
});

describe.skipIf(POSTGRES_MISSING)('servers following the registry on PostgreSQL', () => {
  it('a promotion reaches a second server by NOTIFY, a model failing parity is refused there while it keeps serving, a rollback reaches both', async () => {
    const url = await (await testPostgres()).newDatabase();
    const a = await promoted('srv-a', 'tiny-a', 11);
    const b = await promoted('srv-b', 'tiny-b', 12);
    const bad = await promoted('srv-bad', 'tiny-bad', 13);
    await tamperWeights(bad);
    const first = await recordInRegistry(url, a, { action: 'promote', note: 'first' });

    // No local model folder: the model comes from the database. Polling once an hour: only a
    // notification can bring a promotion within the test.
    const caches: string[] = [];
    const start = async (name: string, notify = true) => {
      const dataDir = await tempDir(`registry-${name}-`);
      caches.push(path.join(dataDir, 'models'));
      const s = await createServer({
        modelDir: path.join(dataDir, 'no-model-here'),
        port: 0,
        workers: 0,
        backend: 'cpu',
        log: () => {},
        predictionLog: { dataDir, db: url },
        registry: { url, cacheDir: path.join(dataDir, 'models'), pollMs: notify ? 3_600_000 : 100, notify },
      });
      servers.push(s);
      return s;
    };
    const [s1, s2] = [await start('one'), await start('two')];
    for (const s of [s1, s2]) {
      expect(s.model()?.id).toBe('tiny-a');
      expect(s.registry()).toMatchObject({ servedHash: first.modelHash, listening: true });
    }
    const predict = (s: PartsServer) => request(`${s.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg', 'x-source': 'line-1' }, body: jpeg });

    const promo = await recordInRegistry(url, b, { action: 'promote', note: 'better' });
    await until('both servers serve tiny-b', () => s1.model()?.id === 'tiny-b' && s2.model()?.id === 'tiny-b');
    expect(s2.registry()).toMatchObject({ servedHash: promo.modelHash, registryHash: promo.modelHash, refusedHash: null });
    expect((await request(`${s1.url}/api/stats`)).json.registry).toMatchObject({ servedHash: promo.modelHash, listening: true });
    expect((await predict(s2)).json.model.id).toBe('tiny-b');

    // A photo answered by one server is in the review queue of the other (one shared database).
    const answered = await predict(s1);
    expect(answered.status).toBe(200);
    const queue = await request(`${s2.url}/api/review/queue`);
    expect(queue.status).toBe(200);
    const item = queue.json.groups[0].items[0];
    const photo = await request(`${s2.url}/api/review/photo?hash=${item.hash}`);
    expect(photo.status).toBe(200);

    const refused = await recordInRegistry(url, bad, { action: 'promote', note: 'tampered after evaluation' });
    await until('both servers refuse the tampered model', () => s1.registry()?.refusedHash === refused.modelHash && s2.registry()?.refusedHash === refused.modelHash);
    // The check that refused it has finished (its report written) once the next one has run.
    await Promise.all([s1, s2].map((s) => s.checkRegistry()));
    for (const s of [s1, s2]) {
      expect(s.model()?.id).toBe('tiny-b');
      expect(s.refused()).toMatchObject({ id: 'tiny-bad', parity: { ok: false } });
      expect((await predict(s)).json.model.id).toBe('tiny-b');
      expect(await s.metricsText()).toMatch(/parts_model_refused\{id="tiny-bad"\} 1/);
    }
    const { db } = await openLogDatabase(dir, { url });
    try {
      const rows = await listRefusals(db);
      expect(rows).toHaveLength(2);
      for (const s of [s1, s2]) expect(rows.filter((r) => r.replica.endsWith(`:${s.port} (pid ${process.pid})`))).toHaveLength(1);
      for (const r of rows) expect(r).toMatchObject({ modelHash: refused.modelHash, runId: 'tiny-bad', reason: expect.stringMatching(/parity check failed/) });
    } finally {
      await db.destroy();
    }

    // A server that starts now, polling only: it serves what the others serve, not the refused model.
    const s3 = await start('three', false);
    expect(s3.model()).toBeNull(); // the registry's current model is the tampered one: refused at start
    expect(s3.refused()?.id).toBe('tiny-bad');

    const back = await recordInRegistry(url, a, { action: 'rollback', note: 'back to tiny-a' });
    expect(back).toMatchObject({ action: 'rollback', previousHash: refused.modelHash });
    await until('every server serves tiny-a again', () => [s1, s2, s3].every((s) => s.model()?.id === 'tiny-a'));
    for (const s of [s1, s2, s3]) expect(s.refused()).toBeNull();
    // Each cache keeps the served copy and the model it came from, nothing staged or refused (once
    // the check that swapped has finished: checkRegistry runs after it).
    await Promise.all([s1, s2, s3].map((s) => s.checkRegistry()));
    for (const c of caches) expect((await fsp.readdir(c)).sort()).toEqual([back.modelHash, 'current'].sort());
    await Promise.all([s1, s2, s3].map((s) => s.close()));
  });
});
