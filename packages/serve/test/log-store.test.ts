import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodePhoto, encodeRgbJpeg } from '@parts/data';
import type { OodDecision } from '@parts/models';
import { openLogDatabase } from '../src/log/db';
import { appliedMigrations, migrateToLatest, MIGRATIONS } from '../src/log/migrations';
import { photoHash, photoPath } from '../src/log/photo-store';
import { PredictionLog, type LogEntry } from '../src/log/prediction-log';
import { CONFIDENT_MARGIN, decide, decisionHistory, listReviewedPhotos, reviewQueue, SAMPLE_EVERY, undoDecision } from '../src/log/review-store';
import { PARTS, photos, tempDir } from './fixtures';
import { databaseFor, DIALECTS, type Dialect } from './postgres';

const open: PredictionLog[] = [];
const dirs: string[] = [];
/** The PostgreSQL URL of each log opened on one. */
const urls = new WeakMap<PredictionLog, string>();
afterEach(async () => {
  await Promise.all(open.splice(0).map((l) => l.close()));
  await Promise.all(dirs.splice(0).map((d) => fsp.rm(d, { recursive: true, force: true })));
});

async function newLog(o: Partial<Parameters<typeof PredictionLog.open>[0]> = {}, dialect: Dialect = 'sqlite'): Promise<PredictionLog> {
  const dataDir = await tempDir('log-store-');
  dirs.push(dataDir);
  const db = await databaseFor(dialect);
  const log = await PredictionLog.open({ dataDir, db, ...o });
  if (db) urls.set(log, db);
  expect(log.dialect).toBe(dialect);
  open.push(log);
  return log;
}

/** The reviewed photos of a log, read as `pnpm retrain --data-dir [--db]` reads them. */
function reviewed(log: PredictionLog) {
  return listReviewedPhotos(log.dataDir, { db: urls.get(log) });
}

/** Whether a photo is stored: its row of photo_blobs, with the bytes of its hash. */
async function isStored(log: PredictionLog, hash: string): Promise<boolean> {
  const row = await log.db!.selectFrom('photo_blobs').select('content').where('hash', '=', hash).executeTakeFirst();
  if (row) expect(photoHash(row.content)).toBe(hash);
  return !!row;
}

/** A decision with probabilities {big: p, small: 1-p}. */
function decision(p: number, unknown = false): OodDecision {
  const top = p >= 0.5 ? 'big' : 'small';
  return { label: unknown ? null : top, unknown, top, probability: Math.max(p, 1 - p), probabilities: { big: p, small: 1 - p }, ood: unknown ? { method: 'knn', score: 0.1, threshold: 0.5 } : null } as OodDecision;
}

function entry(bytes: Buffer, d: OodDecision, source: string | null = 'line-1'): LogEntry {
  return { bytes, source, modelId: 'm1', decision: d, latencyMs: 12.5, fileName: 'x.jpg' };
}

async function distinctPhotos(n: number): Promise<Buffer[]> {
  const { big, small } = await photos();
  const train = path.join(PARTS, 'train', 'big');
  const more = (await fsp.readdir(train)).sort().map((f) => path.join(train, f));
  return Promise.all([...big, ...small, ...more].slice(0, n).map((f) => fsp.readFile(f)));
}

describe.each(DIALECTS)('migrations on %s', (dialect) => {
  it('are versioned, applied once, and a second run is a no-op', async () => {
    const dataDir = await tempDir('log-mig-');
    dirs.push(dataDir);
    const url = await databaseFor(dialect);
    const { db } = await openLogDatabase(dataDir, { url });
    try {
      expect(await appliedMigrations(db)).toEqual(Object.keys(MIGRATIONS));
      expect(await migrateToLatest(db)).toEqual([]);
      const tables = (await db.introspection.getTables()).map((t) => t.name).sort();
      expect(tables).toEqual(expect.arrayContaining(['decisions', 'photos', 'predictions', 'photo_blobs', 'models', 'model_files', 'promotions', 'model_refusals']));
      const mode = await db.selectFrom('photos').select('hash').execute();
      expect(mode).toEqual([]);
    } finally {
      await db.destroy();
    }
    // Re-opening applies nothing new and keeps the data; two servers opening at once apply each version once.
    const [again, other] = await Promise.all([openLogDatabase(dataDir, { url }), openLogDatabase(dataDir, { url })]);
    expect(await appliedMigrations(again.db)).toEqual(Object.keys(MIGRATIONS));
    if (dialect === 'sqlite') expect(again.sqlite!.pragma('journal_mode', { simple: true })).toBe('wal');
    await again.db.destroy();
    await other.db.destroy();
  });
});

describe('the SQLite file', () => {
  it('refuses a corrupt database file with its name and how to recover', async () => {
    const dataDir = await tempDir('log-corrupt-');
    dirs.push(dataDir);
    const file = path.join(dataDir, 'log.sqlite');
    await fsp.writeFile(file, Buffer.alloc(8192, 0x41));
    await expect(PredictionLog.open({ dataDir })).rejects.toThrow(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is corrupt.*To recover: stop the server, move log.sqlite`));
    // Nothing was written over it.
    expect((await fsp.readFile(file)).every((b) => b === 0x41)).toBe(true);
  });
});

describe.each(DIALECTS)('recording on %s', (dialect) => {
  it('stores each photo once by content hash, atomically, with one row per prediction', async () => {
    const log = await newLog({}, dialect);
    const [a, b] = await distinctPhotos(2);
    const ids1 = await log.record([entry(a!, decision(0.9)), entry(b!, decision(0.3))]);
    const ids2 = await log.record([entry(a!, decision(0.8), 'line-2')]);
    expect(ids1).toHaveLength(2);
    expect(ids2![0]).toBeGreaterThan(ids1![1]!);
    const db = log.db!;
    const photosRows = await db.selectFrom('photos').selectAll().orderBy('hash').execute();
    expect(photosRows.map((p) => p.hash).sort()).toEqual([photoHash(a!), photoHash(b!)].sort());
    for (const p of photosRows) {
      expect(p.ext).toBe('jpg');
      expect(await isStored(log, p.hash)).toBe(true);
      expect(photoHash(await log.photos.read(db, p.hash, p.ext))).toBe(p.hash);
    }
    // The photos are rows, not files: recording creates no file.
    const files = await fsp.readdir(path.join(log.dataDir, 'photos'), { recursive: true }).catch(() => [] as string[]);
    expect(files).toEqual([]);
    const rows = await db.selectFrom('predictions').selectAll().orderBy('id').execute();
    expect(rows.map((r) => [r.photo_hash, r.source, r.top, r.unknown, r.model_id])).toEqual([
      [photoHash(a!), 'line-1', 'big', 0, 'm1'],
      [photoHash(b!), 'line-1', 'small', 0, 'm1'],
      [photoHash(a!), 'line-2', 'big', 0, 'm1'],
    ]);
    expect(rows[0]!.margin).toBeCloseTo(0.8, 6);
    expect(JSON.parse(rows[1]!.probabilities)).toEqual({ big: 0.3, small: 0.7 });
    expect(log.stats()).toMatchObject({ recorded: 3, failed: 0, lastError: null });
  });
});

describe('recording on SQLite', () => {
  it('a record that fails halfway leaves none of its rows (photo, bytes, prediction), counts the failure, and the next one is recorded', async () => {
    const log = await newLog();
    const [a, b] = await distinctPhotos(2);
    // Another connection makes the bytes of photo a fail to insert, after its photos row went in.
    const other = await openLogDatabase(log.dataDir);
    other.sqlite!.exec(`CREATE TRIGGER refuse_a BEFORE INSERT ON photo_blobs WHEN NEW.hash = '${photoHash(a!)}' BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
    try {
      expect(await log.record([entry(b!, decision(0.4)), entry(a!, decision(0.9))])).toBeNull();
      expect(log.stats()).toMatchObject({ recorded: 0, failed: 2 });
      expect(log.stats().lastError).toMatch(/recording failed: database or disk is full/);
      for (const table of ['predictions', 'photos', 'photo_blobs'] as const) expect(await log.db!.selectFrom(table).selectAll().execute()).toEqual([]);
    } finally {
      other.sqlite!.exec('DROP TRIGGER refuse_a');
      await other.db.destroy();
    }
    expect(await log.record([entry(a!, decision(0.9))])).toHaveLength(1);
    expect(await isStored(log, photoHash(a!))).toBe(true);
  });

  it('group commit: records arriving together share one transaction, each committed when it resolves', async () => {
    const log = await newLog();
    const all = await distinctPhotos(12);
    // Another connection, as a restarted server would read the file.
    const reader = await openLogDatabase(log.dataDir);
    try {
      const committed = async (ids: number[] | null) => (ids ? (await reader.db.selectFrom('predictions').select('id').where('id', 'in', ids).execute()).length : -1);
      const [first, ...rest] = all.map((b, i) => log.record([entry(b, decision(0.9), `cam-${i}`)]).then(async (ids) => ({ ids, seen: await committed(ids) })));
      const results = [await first!, ...(await Promise.all(rest))];
      // The first went alone (the log was idle); the others, queued meanwhile, in one more.
      expect(log.stats().commits).toBe(2);
      for (const r of results) expect(r.seen).toBe(1);
      expect(log.stats()).toMatchObject({ recorded: all.length, failed: 0 });
      const rows = await reader.db.selectFrom('predictions').select(['photo_hash', 'source']).orderBy('id').execute();
      expect(rows).toEqual(all.map((b, i) => ({ photo_hash: photoHash(b), source: `cam-${i}` })));
    } finally {
      await reader.db.destroy();
    }
  });

  it('a record that cannot be written fails alone: its batch is written again one record at a time', async () => {
    const log = await newLog();
    const all = await distinctPhotos(8);
    const bad = all[3]!;
    const other = await openLogDatabase(log.dataDir);
    other.sqlite!.exec(`CREATE TRIGGER refuse_bad BEFORE INSERT ON photo_blobs WHEN NEW.hash = '${photoHash(bad)}' BEGIN SELECT RAISE(ABORT, 'refused'); END`);
    try {
      // The first goes alone (idle log); the other seven, bad among them, form the next batch.
      const results = await Promise.all(all.map((b, i) => log.record([entry(b, decision(0.9), `cam-${i}`)])));
      expect(results.map((r) => r !== null)).toEqual(all.map((b) => b !== bad));
      expect(log.stats()).toMatchObject({ recorded: 7, failed: 1 });
      const rows = await log.db!.selectFrom('predictions').select('photo_hash').execute();
      expect(rows.map((r) => r.photo_hash).sort()).toEqual(all.filter((b) => b !== bad).map(photoHash).sort());
    } finally {
      other.sqlite!.exec('DROP TRIGGER refuse_bad');
      await other.db.destroy();
    }
  });

  it('reads, lists and prunes a photo stored as a file by an earlier version (no row of bytes)', async () => {
    const log = await newLog({ keepDays: 1 });
    const [a, b] = await distinctPhotos(2);
    const [idA] = (await log.record([entry(a!, decision(0.9))]))!;
    await log.record([entry(b!, decision(0.8))]);
    // As an earlier version stored it: the bytes in the data folder, not in the database.
    await log.db!.deleteFrom('photo_blobs').where('hash', '=', photoHash(a!)).execute();
    const file = photoPath(log.dataDir, photoHash(a!), 'jpg');
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await fsp.writeFile(file, a!);
    expect(Buffer.compare(await log.photos.read(log.db!, photoHash(a!), 'jpg'), a!)).toBe(0);
    // A file cut short is not the photo.
    await fsp.writeFile(file, a!.subarray(0, 100));
    await expect(log.photos.read(log.db!, photoHash(a!), 'jpg')).rejects.toThrow(/holds other bytes/);
    await fsp.writeFile(file, a!);
    await decide(log.db!, { ids: [idA!], action: 'confirm', reviewer: 'ann' });
    expect((await reviewed(log)).map((r) => [r.hash, r.file])).toEqual([[photoHash(a!), file]]);
    // Reviewed photos are never pruned: without the decision it is an ordinary old photo.
    await log.db!.deleteFrom('decisions').execute();
    // Past keepDays both go, the file with its row; a missing file and row is a clear error.
    expect(await log.prune(new Date(Date.now() + 3 * 86_400_000))).toEqual({ predictions: 2, photos: 2 });
    expect(existsSync(file)).toBe(false);
    await expect(log.photos.read(log.db!, photoHash(a!), 'jpg')).rejects.toThrow(/stored photo .* is missing/);
  });

  it('counts a failure and writes no row while another process holds the database locked', async () => {
    const log = await newLog({ busyTimeoutMs: 50 });
    const [a] = await distinctPhotos(1);
    const other = await openLogDatabase(log.dataDir);
    other.sqlite!.exec('BEGIN EXCLUSIVE');
    try {
      expect(await log.record([entry(a!, decision(0.9))])).toBeNull();
      expect(log.stats()).toMatchObject({ failed: 1 });
      expect(log.stats().lastError).toMatch(/locked|busy/i);
    } finally {
      other.sqlite!.exec('ROLLBACK');
      await other.db.destroy();
    }
    expect(await log.db!.selectFrom('predictions').selectAll().execute()).toEqual([]);
    expect(await log.record([entry(a!, decision(0.9))])).toHaveLength(1);
  });
});

describe.each(DIALECTS)('retention on %s', (dialect) => {
  it('prunes unreviewed predictions past keepDays, never reviewed photos', async () => {
    const log = await newLog({ keepDays: 2 }, dialect);
    const [a, b] = await distinctPhotos(2);
    const [ida] = (await log.record([entry(a!, decision(0.9))]))!;
    await log.record([entry(b!, decision(0.9))]);
    await decide(log.db!, { ids: [ida!], action: 'confirm', reviewer: 'ann' });
    expect(await log.prune(new Date(Date.now() + 1 * 86_400_000))).toEqual({ predictions: 0, photos: 0 });
    expect(await log.prune(new Date(Date.now() + 3 * 86_400_000))).toEqual({ predictions: 1, photos: 1 });
    expect(await isStored(log, photoHash(b!))).toBe(false);
    expect(await isStored(log, photoHash(a!))).toBe(true);
    expect((await log.db!.selectFrom('predictions').select('photo_hash').execute()).map((r) => r.photo_hash)).toEqual([photoHash(a!)]);
  });

  it('under a size cap removes the oldest unreviewed photos first and keeps reviewed ones', async () => {
    const ph = await distinctPhotos(5);
    const sizes = ph.map((p) => p.length);
    // Room for the last two photos plus the reviewed first one.
    const cap = sizes[0]! + sizes[3]! + sizes[4]! + 10;
    const log = await newLog({ maxBytes: cap }, dialect);
    const ids: number[] = [];
    for (const p of ph) ids.push((await log.record([entry(p, decision(0.9))]))![0]!);
    await decide(log.db!, { ids: [ids[0]!], action: 'not-a-part', reviewer: 'ann' });
    const r = await log.prune();
    expect(r.predictions).toBe(2);
    const left = (await log.db!.selectFrom('predictions').select('id').orderBy('id').execute()).map((x) => x.id);
    expect(left).toEqual([ids[0], ids[3], ids[4]]);
    for (const [i, p] of ph.entries()) expect(await isStored(log, photoHash(p))).toBe([0, 3, 4].includes(i));
  });
});

describe.each(DIALECTS)('review queue on %s', (dialect) => {
  it('puts unknown answers first, then the smallest margins, with a confident sample every tenth place', async () => {
    const log = await newLog({}, dialect);
    const ph = await distinctPhotos(16);
    // 2 unknown, 5 uncertain, 9 confident (margin >= CONFIDENT_MARGIN).
    const ps = [0.55, 0.6, 0.51, 0.7, 0.35, 0.99, 0.98, 0.97, 0.96, 0.995, 0.999, 0.02, 0.03, 0.01, 0.52, 0.95];
    const unknownAt = new Set([0, 14]);
    const ids: number[] = [];
    for (const [i, p] of ph.entries()) ids.push((await log.record([entry(p, decision(ps[i]!, unknownAt.has(i)), `cam-${i}`)]))![0]!);
    const q = await reviewQueue(log.db!, log.photos, { limit: 50 });
    expect(q.pending).toBe(16);
    expect(q.groups.every((g) => g.items.length === 1)).toBe(true);
    const order = q.groups.map((g) => g.items[0]!);
    const margin = (p: number) => Math.abs(2 * p - 1);
    expect(order.slice(0, 2).map((i) => i.id)).toEqual([ids[14], ids[0]]); // unknown, smaller margin first
    const uncertain = [2, 1, 4, 3].map((i) => ids[i]);
    expect(order.slice(2, 6).map((i) => i.id)).toEqual(uncertain);
    expect(q.groups[SAMPLE_EVERY - 1]!.reason).toBe('sample');
    expect(q.groups.filter((g, i) => g.reason === 'sample' && i < SAMPLE_EVERY - 1)).toHaveLength(3); // primary ran out at place 7
    for (const g of q.groups.filter((x) => x.reason === 'sample')) expect(margin(ps[ids.indexOf(g.items[0]!.id)]!)).toBeGreaterThanOrEqual(CONFIDENT_MARGIN);
    // A decided photo leaves the queue; undone, it comes back.
    const [d] = await decide(log.db!, { ids: [ids[14]!], action: 'bad-photo', reviewer: 'bo' });
    expect((await reviewQueue(log.db!, log.photos)).groups[0]!.items[0]!.id).toBe(ids[0]);
    await undoDecision(log.db!, d!.batch, 'bo');
    expect((await reviewQueue(log.db!, log.photos)).groups[0]!.items[0]!.id).toBe(ids[14]);
  });

  it('groups near-identical photos from the same source, not across sources', async () => {
    const log = await newLog({}, dialect);
    const [a, b] = await distinctPhotos(2);
    const copy = await encodeRgbJpeg(await decodePhoto(a!), 70); // re-encoded: other bytes, same picture
    expect(photoHash(copy)).not.toBe(photoHash(a!));
    const [i1] = (await log.record([entry(a!, decision(0.6), 'cam-A')]))!;
    const [i2] = (await log.record([entry(copy, decision(0.62), 'cam-A')]))!;
    const [i3] = (await log.record([entry(copy, decision(0.61), 'cam-B')]))!;
    const [i4] = (await log.record([entry(b!, decision(0.58), 'cam-A')]))!;
    const q = await reviewQueue(log.db!, log.photos);
    // The copy logged from cam-A then cam-B is one photo (one hash), listed once with its latest
    // prediction (cam-B): not grouped with cam-A's photo a.
    expect(q.groups.map((g) => g.items.map((i) => i.id))).toEqual(expect.arrayContaining([[i1], [i3], [i4]]));
    expect(q.groups).toHaveLength(3);
    expect(i2).toBeLessThan(i3!);
    const log2 = await newLog({}, dialect);
    await log2.record([entry(a!, decision(0.6), 'cam-A')]);
    await log2.record([entry(copy, decision(0.6), 'cam-B')]);
    expect((await reviewQueue(log2.db!, log2.photos)).groups.map((g) => g.items.length)).toEqual([1, 1]);
    const log3 = await newLog({}, dialect);
    await log3.record([entry(a!, decision(0.6), 'cam-A')]);
    await log3.record([entry(copy, decision(0.6), 'cam-A')]);
    await log3.record([entry(b!, decision(0.6), 'cam-A')]);
    expect((await reviewQueue(log3.db!, log3.photos)).groups.map((g) => g.items.length).sort()).toEqual([1, 2]);
  });
});

describe.each(DIALECTS)('decisions on %s', (dialect) => {
  it('keep who and when, the later of two reviewers wins, both stay in history; undo restores the earlier', async () => {
    const log = await newLog({}, dialect);
    const [a] = await distinctPhotos(1);
    const [id] = (await log.record([entry(a!, decision(0.2, true))]))!;
    const t0 = new Date('2026-01-01T10:00:00Z');
    const [first] = await decide(log.db!, { ids: [id!], action: 'correct', label: 'big', reviewer: 'ann' }, t0);
    const [second] = await decide(log.db!, { ids: [id!], action: 'new-class', label: 'nut', reviewer: 'bo' }, new Date(t0.getTime() + 1000));
    expect(first).toMatchObject({ reviewer: 'ann', label: 'big', decidedAt: t0.toISOString(), action: 'correct' });
    const listed = await reviewed(log);
    expect(listed).toEqual([
      { hash: photoHash(a!), file: photoPath(log.dataDir, photoHash(a!), 'jpg'), label: 'nut', reviewer: 'bo', reviewedAt: second!.decidedAt, source: 'line-1', loggedAt: expect.any(String), modelId: 'm1' },
    ]);
    expect(path.isAbsolute(listed[0]!.file)).toBe(true);
    // A file to build a dataset from, on PostgreSQL too (copied from the database into the data folder).
    expect(photoHash(await fsp.readFile(listed[0]!.file))).toBe(photoHash(a!));
    await undoDecision(log.db!, second!.batch, 'bo');
    expect((await reviewed(log)).map((p) => [p.label, p.reviewer])).toEqual([['big', 'ann']]);
    const hist = await decisionHistory(log.db!, photoHash(a!));
    expect(hist.map((h) => [h.reviewer, h.label, h.undoneBy])).toEqual([
      ['ann', 'big', null],
      ['bo', 'nut', 'bo'],
    ]);
    await expect(undoDecision(log.db!, second!.batch, 'bo')).rejects.toMatchObject({ status: 409 });
    await expect(undoDecision(log.db!, 'no-such-batch', 'bo')).rejects.toMatchObject({ status: 404 });
  });

  it('refuse a missing record (404), bad labels and reviewers (400)', async () => {
    const log = await newLog({}, dialect);
    const [a] = await distinctPhotos(1);
    const [id] = (await log.record([entry(a!, decision(0.9))]))!;
    await expect(decide(log.db!, { ids: [id!, 9999], action: 'confirm', reviewer: 'ann' })).rejects.toMatchObject({ status: 404, message: expect.stringMatching(/9999/) });
    await expect(decide(log.db!, { ids: [id!], action: 'correct', label: '../etc', reviewer: 'ann' })).rejects.toMatchObject({ status: 400 });
    await expect(decide(log.db!, { ids: [id!], action: 'correct', label: 'not-a-part', reviewer: 'ann' })).rejects.toMatchObject({ status: 400 });
    await expect(decide(log.db!, { ids: [id!], action: 'confirm', reviewer: '' })).rejects.toMatchObject({ status: 400 });
    await expect(decide(log.db!, { ids: [id!], action: 'delete' as never, reviewer: 'ann' })).rejects.toMatchObject({ status: 400 });
    expect(await log.db!.selectFrom('decisions').selectAll().execute()).toEqual([]);
    if (dialect === 'sqlite') expect(await listReviewedPhotos(path.join(log.dataDir, 'nothing-here'))).toEqual([]);
  });

  it('two reviewers deciding at once: both kept, one standing decision', async () => {
    const log = await newLog({}, dialect);
    const [a] = await distinctPhotos(1);
    const [id] = (await log.record([entry(a!, decision(0.5))]))!;
    const [x, y] = await Promise.all([
      decide(log.db!, { ids: [id!], action: 'correct', label: 'big', reviewer: 'ann' }),
      decide(log.db!, { ids: [id!], action: 'correct', label: 'small', reviewer: 'bo' }),
    ]);
    const hist = await decisionHistory(log.db!, photoHash(a!));
    expect(hist).toHaveLength(2);
    const later = [x![0]!, y![0]!].sort((p, q) => p.decidedAt.localeCompare(q.decidedAt) || p.id - q.id)[1]!;
    expect((await reviewed(log)).map((p) => p.label)).toEqual([later.label]);
  });
});

describe('pnpm diagnose', () => {
  it('reports the log database: absent, healthy with counts, corrupt with how to recover', async () => {
    const { checkPredictionLog } = await import('../src/diagnose/log-check');
    const { realProbes } = await import('../src/diagnose/probes');
    const p = realProbes();
    const log = await newLog();
    const [a] = await distinctPhotos(1);
    expect(await checkPredictionLog(p, path.join(log.dataDir, 'none'))).toMatchObject({ verdict: 'info' });
    await log.record([entry(a!, decision(0.9))]);
    const ok = await checkPredictionLog(p, log.dataDir);
    expect(ok).toMatchObject({ verdict: 'ok', details: { predictions: 1, photos: 1, decisions: 0 } });
    const bad = await tempDir('log-diag-');
    dirs.push(bad);
    await fsp.writeFile(path.join(bad, 'log.sqlite'), Buffer.alloc(4096, 3));
    const c = await checkPredictionLog(p, bad);
    expect(c.verdict).toBe('warn');
    expect(c.summary).toMatch(/is corrupt/);
    expect(c.fix).toMatch(/^To recover: stop the server, move log\.sqlite/);
  });
});
