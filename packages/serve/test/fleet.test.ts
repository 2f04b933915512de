// Three `pnpm serve` replicas behind nginx (deploy/nginx/parts-serve.conf), scraped by Prometheus,
// all on loopback, sharing one PostgreSQL database (--db; each its own SQLite log, summed, where
// PostgreSQL's binaries are absent): a burst of mixed requests at 16 concurrent, one replica killed
// with SIGKILL in the middle of it. Every prediction answered 200 must be in the prediction log
// exactly once (each photo is unique, so its hash finds its row); a row nobody was answered for may
// only be a photo of a request the kill cut. On one database, a promotion recorded in its model
// registry during the burst reaches every live replica (the time is printed) with no request failing
// for it, and any replica's review API serves the photos the others answered. After the killed replica is restarted and a second burst, Prometheus
// must list the three replicas up, and its sums of parts_predictions_total must equal what the log
// holds for the three running processes. On one database the fleet has an API key (in that database):
// every request carries it, and one without it is refused through nginx. Skipped, saying why, without nginx or Prometheus (Debian
// packages `nginx` and `prometheus`; scripts/setup.sh installs them as root).
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import { decodeImage, encodeRgbPng, farOodImage, type FarOodKind } from '@parts/data';
import { classify, disposeClassifier, loadClassifier, scorerFromState, writeOodFile } from '@parts/models';
import { findNginx, findPrometheus, startFleet, type Fleet } from '../src/fleet/index';
import { openLogDatabase } from '../src/log/db';
import { photoHash } from '../src/log/photo-store';
import { makeModel, multipart, request, tempDir, type Reply } from './fixtures';
import { openAccessDatabase } from '../src/auth/admin';
import { createApiKey } from '../src/auth/api-keys';
import { POSTGRES_MISSING, testPostgres } from './postgres';
import { recordInRegistry } from '../src/registry/registry-client';

const missing = [findNginx() ? null : 'nginx', findPrometheus() ? null : 'prometheus'].filter((m): m is string => m !== null);
if (missing.length) console.warn(`fleet.test: skipped: ${missing.join(' and ')} not installed (apt-get install ${missing.join(' ')}; scripts/setup.sh does it as root)`);

const REQUESTS = 2000;
const CONCURRENCY = 16;
const KILL_AFTER = 800; // acknowledged predict requests before the kill
const PROMOTE_AFTER = 300; // on PostgreSQL: acknowledged predict requests before a promotion in the registry
const SECOND_BURST = 150;
const KINDS: FarOodKind[] = ['noise', 'text', 'shapes', 'checkerboard', 'gradient', 'color-field'];

let dir: string;
let modelB: string;
let fleet: Fleet | null = null;
/** The replicas' shared database, or undefined: a SQLite log per replica. */
let dbUrl: string | undefined;
/** The API key header every request sends (on one database, where the fleet has a key), else none. */
let auth: Record<string, string> = {};
let nextSeed = 1;
const seen = new Set<string>();

/** A PNG no earlier request sent (so its hash names one log row). */
async function uniquePhoto(): Promise<Buffer> {
  for (;;) {
    const seed = nextSeed++;
    const png = await encodeRgbPng(farOodImage(KINDS[seed % KINDS.length]!, seed, 40 + (seed % 9), 36));
    const h = photoHash(png);
    if (!seen.has(h)) {
      seen.add(h);
      return png;
    }
  }
}

interface Sent {
  kind: 'single' | 'multi' | 'bad' | 'model';
  photos: Buffer[];
  reply: Reply | null;
  error?: string;
  /** Requests acknowledged (predict 200) before this one was answered. */
  after: number;
}

async function send(kind: Sent['kind'], url: string, i: number): Promise<Omit<Sent, 'after'>> {
  if (kind === 'model') return { kind, photos: [], reply: await request(`${url}/api/model`, { headers: auth }) };
  if (kind === 'bad') {
    // Not an image (unique bytes): 415, never logged.
    const junk = Buffer.from(`not a photo ${i} ${'x'.repeat(i % 50)}`);
    return { kind, photos: [junk], reply: await request(`${url}/api/predict`, { method: 'POST', headers: { ...auth, 'content-type': 'image/png' }, body: junk }) };
  }
  if (kind === 'single') {
    const png = await uniquePhoto();
    return { kind, photos: [png], reply: await request(`${url}/api/predict`, { method: 'POST', headers: { ...auth, 'content-type': 'image/png', 'x-source': `line-${i % 3}` }, body: png }) };
  }
  const photos = await Promise.all(Array.from({ length: 2 + (i % 2) }, uniquePhoto));
  const { body, contentType } = multipart([{ field: 'source', data: `line-${i % 3}` }, ...photos.map((data, k) => ({ field: 'image', filename: `r${i}-${k}.png`, type: 'image/png', data }))]);
  return { kind, photos, reply: await request(`${url}/api/predict`, { method: 'POST', headers: { ...auth, 'content-type': contentType }, body }) };
}

const KIND_OF = (i: number): Sent['kind'] => (['single', 'single', 'single', 'single', 'single', 'single', 'multi', 'multi', 'bad', 'model'] as const)[i % 10]!;
const acknowledged = (s: Sent) => (s.kind === 'single' || s.kind === 'multi') && s.reply?.status === 200;

/** `total` requests, `CONCURRENCY` at a time; `onAck` after each acknowledged prediction. */
async function burst(url: string, total: number, onAck?: (n: number) => void): Promise<Sent[]> {
  const out: Sent[] = [];
  let next = 0;
  let acks = 0;
  const client = async () => {
    while (next < total) {
      const i = next++;
      const kind = KIND_OF(i);
      let s: Omit<Sent, 'after'>;
      try {
        s = await send(kind, url, i);
      } catch (e) {
        s = { kind, photos: [], reply: null, error: (e as Error).message };
      }
      out.push({ ...s, after: acks });
      if (acknowledged(out[out.length - 1]!)) onAck?.(++acks);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, client));
  return out;
}

interface Row {
  /** The replica whose own SQLite log holds the row; null on the shared database. */
  replica: number | null;
  id: number;
  hash: string;
  unknown: number;
  top: string;
}

async function logRows(f: Fleet): Promise<Row[]> {
  const rows: Row[] = [];
  const sources = dbUrl ? [{ replica: null, dataDir: f.workDir, url: dbUrl }] : f.replicas.map((r) => ({ replica: r.index, dataDir: r.dataDir!, url: undefined }));
  for (const src of sources) {
    const { db } = await openLogDatabase(src.dataDir, { url: src.url });
    try {
      for (const x of await db.selectFrom('predictions').select(['id', 'photo_hash', 'unknown', 'top']).execute()) {
        rows.push({ replica: src.replica, id: Number(x.id), hash: x.photo_hash, unknown: Number(x.unknown), top: x.top });
      }
    } finally {
      await db.destroy();
    }
  }
  return rows;
}

beforeAll(async () => {
  if (missing.length) return;
  await initBackend('cpu', () => {});
  dir = await tempDir('fleet-');
  const modelDir = path.join(dir, 'model');
  await makeModel(modelDir, { runId: 'tiny-fleet', imgSize: 32 });
  // An MSP detector at the median top probability of photos like the burst's: about half unknown.
  const c = await loadClassifier(modelDir);
  let msp: number[];
  try {
    const sample = await Promise.all(Array.from({ length: 60 }, (_, k) => encodeRgbPng(farOodImage(KINDS[k % KINDS.length]!, 100_000 + k, 44, 36))));
    const preds = await classify(c, await Promise.all(sample.map((b) => decodeImage(b, { size: 32, fit: 'cover' }))));
    msp = preds.map((p) => Math.max(...Object.values(p.probabilities))).sort((a, b) => a - b);
  } finally {
    disposeClassifier(c);
  }
  const detector: Parameters<typeof writeOodFile>[1] = {
    scorer: scorerFromState({ method: 'msp', featureDim: 4, numClasses: 2, params: {}, arrays: {} }),
    method: 'msp',
    threshold: msp[msp.length >> 1]!,
    acceptRate: 0.5,
    temperature: 1,
    labels: ['big', 'small'],
    fittedOn: { n: 60, split: 'train', thresholdN: 60, thresholdSplit: 'val' },
  };
  await writeOodFile(modelDir, detector);
  // The model promoted in the middle of the burst (on PostgreSQL).
  modelB = path.join(dir, 'model-b');
  await makeModel(modelB, { runId: 'tiny-fleet-b', imgSize: 32, seed: 2 });
  await writeOodFile(modelB, detector);
  if (POSTGRES_MISSING) console.warn(`fleet.test: a SQLite log per replica, summed (no PostgreSQL: ${POSTGRES_MISSING})`);
  else {
    dbUrl = await (await testPostgres()).newDatabase();
    // The fleet's key, made as `pnpm keys add --db` makes it, before the replicas start.
    const { db } = await openAccessDatabase(path.join(dir, 'keys'), dbUrl);
    try {
      auth = { authorization: `Bearer ${(await createApiKey(db, 'fleet test')).key}` };
    } finally {
      await db.destroy();
    }
  }
  fleet = await startFleet({
    modelDir,
    db: dbUrl,
    replicas: 3,
    workDir: path.join(dir, 'fleet'),
    // One key for the whole burst: its rate (per replica) well above what the burst sends.
    serveArgs: ['--workers', '0', '--backend', 'cpu', '--engine', 'tfjs', '--watch-ms', '0', '--queue', '64', '--key-rate', '100000', '--key-burst', '1000'],
    exposeUpstream: true,
    prometheus: { scrapeIntervalS: 1 },
  });
});

afterAll(async () => {
  await fleet?.stop();
  if (dir) await fsp.rm(dir, { recursive: true, force: true });
});

describe.skipIf(missing.length > 0)('3 replicas behind nginx, scraped by Prometheus', () => {
  it('keeps the loopback-only review pages and the per-replica metrics off the balancer, and refuses bodies over the replicas\' limit itself', async () => {
    const f = fleet!;
    expect((await request(`${f.replicas[0]!.url}/review`)).status).toBe(200); // loopback, directly
    expect((await request(`${f.url}/review`)).status).toBe(403);
    expect((await request(`${f.url}/api/review/queue`)).status).toBe(403);
    expect((await request(`${f.url}/metrics`)).status).toBe(404);
    const ready = await request(`${f.url}/readyz`);
    expect([ready.status, ready.json?.model]).toEqual([200, 'tiny-fleet']);
    const big = await request(`${f.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: Buffer.alloc(10 * 1024 * 1024 + 1) });
    expect(big.status).toBe(413);
    expect(big.headers['x-upstream-addr']).toBeUndefined(); // answered by nginx, no replica involved
    if (dbUrl) {
      // The fleet has a key: without it a replica answers 401, with it 200.
      expect((await request(`${f.url}/api/model`)).status).toBe(401);
      expect((await request(`${f.url}/api/model`, { headers: auth })).status).toBe(200);
    }
  });

  it('loses no acknowledged prediction when a replica is killed mid-burst, and Prometheus reports what the logs hold', async () => {
    const f = fleet!;
    const victim = f.replicas[1]!;
    let killedAt = -1;
    let kill: Promise<void> | null = null;
    let promotion: Promise<number[]> | null = null;
    // A promotion in the registry during the burst: ms until each replica that is not killed serves it (its /readyz).
    const promote = async () => {
      const t0 = performance.now();
      await recordInRegistry(dbUrl!, modelB, { action: 'promote', note: 'fleet test' });
      return Promise.all(
        f.replicas
          .filter((r) => r !== victim)
          .map(async (r) => {
            while ((await request(`${r.url}/readyz`)).json?.model !== 'tiny-fleet-b') await new Promise((res) => setTimeout(res, 50));
            return performance.now() - t0;
          }),
      );
    };
    const first = await burst(f.url, REQUESTS, (n) => {
      if (dbUrl && n === PROMOTE_AFTER) promotion = promote();
      if (n === KILL_AFTER) {
        killedAt = n;
        kill = victim.kill(); // requests are in flight on every replica now
      }
    });
    await kill;
    expect(killedAt).toBe(KILL_AFTER);
    const reachedMs = await (promotion as Promise<number[]> | null);

    // nginx lists every replica it tried ("a, b" when a refused the connection): the last one answered.
    const triedOf = (s: Sent) => String(s.reply?.headers['x-upstream-addr'] ?? '').split(', ');
    const upstreamOf = (s: Sent) => triedOf(s).at(-1)!;
    const indexOf = (addr: string) => f.replicas.findIndex((r) => r.address === addr);
    // Every prediction answered 200 came from a replica nginx names, and the mix was answered.
    const acks = first.filter(acknowledged);
    expect(acks.length).toBeGreaterThan(KILL_AFTER);
    for (const s of acks) expect(indexOf(upstreamOf(s)), upstreamOf(s)).toBeGreaterThanOrEqual(0);
    // Not images: 415 (or cut with the killed replica: nginx does not repeat a POST it sent).
    for (const s of first.filter((x) => x.kind === 'bad')) {
      expect(s.reply?.status === 415 || (s.reply?.status === 502 && upstreamOf(s) === victim.address), `${s.reply?.status} from ${upstreamOf(s)}: ${s.error ?? s.reply?.text}`).toBe(true);
    }
    expect(first.filter((s) => s.kind === 'model').every((s) => s.reply?.status === 200)).toBe(true);
    // Only requests in flight on the killed replica may fail: nginx passes a refused connection on,
    // but never a POST it already sent.
    const failed = first.filter((s) => (s.kind === 'single' || s.kind === 'multi') && s.reply?.status !== 200);
    expect(failed.length).toBeLessThanOrEqual(CONCURRENCY);
    for (const s of failed) {
      expect(s.reply?.status, s.error ?? s.reply?.text).toBe(502);
      expect(upstreamOf(s)).toBe(victim.address);
    }
    // After the kill the other two answered (those acknowledged well after it came from them).
    const late = acks.filter((s) => s.after >= KILL_AFTER + CONCURRENCY);
    expect(late.length).toBeGreaterThan(0);
    expect(late.every((s) => upstreamOf(s) !== victim.address)).toBe(true);

    if (dbUrl) {
      // The promotion reached every replica that was not killed, without a failed request (only the
      // kill's are above); each of them answered with the new model during the burst.
      for (const r of f.replicas.filter((x) => x !== victim)) {
        expect(acks.some((s) => upstreamOf(s) === r.address && [s.reply!.json].flat()[0].model.id === 'tiny-fleet-b')).toBe(true);
      }
      console.log(`fleet.test: the promotion reached the live replicas after ${reachedMs!.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(', ')}`);
    }
    const passedOn = acks.filter((s) => triedOf(s).length > 1);
    for (const s of passedOn) expect(triedOf(s)[0]).toBe(victim.address);
    console.log(`fleet.test (${dbUrl ? 'one PostgreSQL database' : 'a SQLite log per replica'}): ${acks.length} predict requests acknowledged, ${failed.length} cut by the kill (502), ${passedOn.length} passed on by nginx after a refused connection`);

    const rows = await logRows(f);
    const byHash = new Map<string, Row[]>();
    for (const r of rows) byHash.set(r.hash, [...(byHash.get(r.hash) ?? []), r]);
    /** Which replica answered each photo of the burst (the killed one for the photos of requests it cut). */
    const answeredBy = new Map<string, number>();
    for (const s of acks) {
      const replica = indexOf(upstreamOf(s));
      const answers: any[] = s.photos.length === 1 ? [s.reply!.json] : s.reply!.json;
      const ids = String(s.reply!.headers['x-prediction-log'] ?? '').split(',').filter(Boolean).map(Number);
      s.photos.forEach((p, k) => {
        const found = byHash.get(photoHash(p)) ?? [];
        expect(found, `photo ${k} of a request answered by replica ${replica}`).toHaveLength(1); // exactly once
        if (found[0]!.replica !== null) expect(found[0]!.replica).toBe(replica);
        expect([found[0]!.top, found[0]!.unknown]).toEqual([answers[k].top, answers[k].unknown ? 1 : 0]);
        if (ids.length) expect(found[0]!.id).toBe(ids[k]);
        answeredBy.set(photoHash(p), replica);
      });
    }
    // Rows nobody was answered for: photos of requests the kill cut (logged, then the answer was lost).
    const cut = new Set(failed.flatMap((s) => s.photos.map(photoHash)));
    const orphans = rows.filter((r) => !answeredBy.has(r.hash));
    for (const r of orphans) {
      expect(cut.has(r.hash)).toBe(true);
      if (r.replica !== null) expect(r.replica).toBe(victim.index);
      expect(byHash.get(r.hash)).toHaveLength(1);
      answeredBy.set(r.hash, victim.index);
    }
    expect(rows.length).toBe(answeredBy.size);
    for (const s of first.filter((x) => x.kind === 'bad')) expect(byHash.has(photoHash(s.photos[0]!))).toBe(false);
    const unknownShare = rows.filter((r) => r.unknown === 1).length / rows.length;
    expect(unknownShare).toBeGreaterThan(0.05); // the detector answers a real mix
    expect(unknownShare).toBeLessThan(0.95);

    if (dbUrl) {
      // One database: every replica's review API serves the photos the others answered.
      for (const r of f.replicas.filter((x) => x !== victim)) {
        const other = acks.find((s) => indexOf(upstreamOf(s)) !== r.index)!;
        const photo = await request(`${r.url}/api/review/photo?hash=${photoHash(other.photos[0]!)}`, { headers: auth });
        expect(photo.status).toBe(200);
        expect(photo.headers['content-type']).toBe('image/png');
      }
    }

    // The killed replica comes back on its port and data folder; a second burst reaches all three.
    await victim.restart();
    const second = await burst(f.url, SECOND_BURST);
    const doneAt = new Date();
    expect(second.filter((s) => (s.kind === 'single' || s.kind === 'multi') && !acknowledged(s))).toEqual([]);
    expect(new Set(second.filter(acknowledged).map(upstreamOf))).toEqual(new Set(f.replicas.map((r) => r.address)));
    // On PostgreSQL all three serve the registry's model, the restarted one too.
    if (dbUrl) expect(new Set(second.filter(acknowledged).map((s) => [s.reply!.json].flat()[0].model.id))).toEqual(new Set(['tiny-fleet-b']));
    for (const s of second.filter(acknowledged)) for (const p of s.photos) answeredBy.set(photoHash(p), indexOf(upstreamOf(s)));
    const restarted = new Set(second.flatMap((s) => s.photos.map(photoHash)));

    // Prometheus: the three replicas up, each scraped after the burst ended.
    const prom = f.prometheus!;
    const deadline = Date.now() + 120_000;
    for (;;) {
      const t = await prom.targets();
      if (t.length === 3 && t.every((x) => x.health === 'up' && x.lastScrape > doneAt)) break;
      if (Date.now() > deadline) throw new Error(`targets not all scraped up after the burst: ${JSON.stringify(t)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(new Set((await prom.targets()).map((t) => t.instance))).toEqual(new Set(f.replicas.map((r) => r.address)));
    // What the running processes answered: everything but the killed process's rows, plus the second burst.
    const all = await logRows(f);
    for (const r of all) expect(answeredBy.has(r.hash), `a log row no request accounts for: ${r.hash}`).toBe(true);
    const live = all.filter((r) => restarted.has(r.hash) || answeredBy.get(r.hash) !== victim.index);
    const liveUnknown = live.filter((r) => r.unknown === 1).length;
    expect(await prom.query('sum(parts_predictions_total)')).toBe(live.length);
    expect(await prom.query('sum(parts_predictions_total{unknown="true"})')).toBe(liveUnknown);
    const rate = await prom.query('sum(parts_predictions_total{unknown="true"}) / sum(parts_predictions_total)');
    expect(rate).toBeCloseTo(liveUnknown / live.length, 12);
    // Per replica too (the alert rules group by instance).
    for (const r of f.replicas) {
      const n = live.filter((x) => answeredBy.get(x.hash) === r.index).length;
      expect(await prom.query(`sum(parts_predictions_total{instance="${r.address}"})`)).toBe(n);
    }
  });
});
