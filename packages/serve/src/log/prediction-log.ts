// The prediction log: every answered photo with its decision, in the data folder (SQLite by
// default) or in a PostgreSQL database several servers share (see db.ts). Recording never throws:
// a failure (full disk, locked, unreachable or corrupt database, unwritable folder) is counted and
// kept as lastError, and the photo's answer goes out regardless. A row is inserted only after its
// photo file is complete (or, on PostgreSQL, with its photo's bytes in the same transaction), in
// one transaction per batch of requests (group commit, see record()), so a failure or a kill leaves
// no row without its photo and no half-written file. Photo files are not synced one by one (neither
// are commits: SQLite's synchronous = NORMAL): a power cut may lose the newest of both, and open()
// removes rows whose photo was lost.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Insertable, Kysely } from 'kysely';
import type { OodDecision } from '@parts/models';
import { LogDatabaseError, openLogDatabase, type OpenedDatabase } from './db';
import { photoExtension, photoHash, photoPath, PhotoStore, sweepTemporaries, writePhotoFile } from './photo-store';
import { PreparedQuery } from './prepared';
import { RwLock } from './rw-lock';
import type { LogDatabase, PhotosTable, PredictionsTable } from './schema';

export interface LogEntry {
  bytes: Uint8Array;
  source: string | null;
  fileName?: string;
  modelId: string;
  decision: OodDecision;
  latencyMs: number;
}

interface PendingRecord {
  entries: LogEntry[];
  resolve: (ids: number[] | null) => void;
}

export interface LogOptions {
  /** The data folder: log.sqlite and photos/ (SQLite), or the local photo cache and jobs (PostgreSQL). */
  dataDir: string;
  /** A postgres:// URL: the log, its photos and the review decisions live in that shared database. */
  db?: string;
  /** Most PostgreSQL connections of this log. Default 10. */
  poolSize?: number;
  /** Unreviewed predictions older than this many days are pruned. Default: kept. */
  keepDays?: number;
  /** Cap on the stored photos' bytes; past it the oldest unreviewed predictions go first. Default: none. */
  maxBytes?: number;
  /** SQLite busy timeout, ms: how long a write waits for a lock held elsewhere. Default 200. */
  busyTimeoutMs?: number;
  /** Retention runs after this many recorded predictions (and at start). Default 500. */
  pruneEvery?: number;
  /** How long an answer waits for its record's commit before it goes without (the record follows). Default 1000 ms. */
  answerWaitMs?: number;
  /** Called with the number of photos whose record failed (the server's metrics count them). */
  onFailure?: (count: number) => void;
}

export interface LogStats {
  enabled: true;
  dataDir: string;
  /** Predictions recorded since start. */
  recorded: number;
  /** Predictions that could not be recorded since start (the answers were given). */
  failed: number;
  lastError: string | null;
  lastErrorAt: string | null;
  /** Rows removed by retention since start. */
  pruned: number;
  /** Transactions that committed records since start (group commit: several records share one under load). */
  commits: number;
}

/** probability of the top class minus the runner-up's. */
export function decisionMargin(probabilities: Record<string, number>): number {
  const v = Object.values(probabilities).sort((a, b) => b - a);
  return v.length < 2 ? 1 : v[0]! - v[1]!;
}

/** PostgreSQL's SQLSTATE for a foreign key violation. */
const FOREIGN_KEY_VIOLATION = '23503';

type PhotoRow = Insertable<PhotosTable>;
type PredictionRow = Omit<Insertable<PredictionsTable>, 'id'>;
const PHOTO_FIELDS = ['hash', 'ext', 'bytes', 'stored_at', 'signature'] as const satisfies readonly (keyof PhotoRow)[];
const PREDICTION_FIELDS = [
  'logged_at', 'photo_hash', 'source', 'file_name', 'model_id', 'label', 'unknown', 'top', 'probability', 'margin', 'probabilities', 'ood', 'latency_ms',
] as const satisfies readonly (keyof PredictionRow)[];

interface BatchRequest {
  p: PendingRecord;
  rows: { e: LogEntry; hash: string; ext: string }[];
}

/** The records a batch committed, and each one's prediction ids. */
interface CommittedBatch {
  ready: PendingRecord[];
  ids: number[][];
}

function photoRow(hash: string, ext: string, e: LogEntry, now: string): PhotoRow {
  return { hash, ext, bytes: e.bytes.length, stored_at: now, signature: null };
}

function predictionRow(hash: string, e: LogEntry, now: string): PredictionRow {
  const d = e.decision;
  return {
    logged_at: now,
    photo_hash: hash,
    source: e.source,
    file_name: e.fileName ?? null,
    model_id: e.modelId,
    label: d.label,
    unknown: d.unknown ? 1 : 0,
    top: d.top,
    probability: d.probability,
    margin: decisionMargin(d.probabilities),
    probabilities: JSON.stringify(d.probabilities),
    ood: d.ood ? JSON.stringify(d.ood) : null,
    latency_ms: e.latencyMs,
  };
}

interface SqliteStatements {
  hasPhoto: PreparedQuery<{ hash: string }>;
  insertPhoto: PreparedQuery<PhotoRow>;
  insertPrediction: PreparedQuery<PredictionRow>;
}

export class PredictionLog {
  readonly dataDir: string;
  /** Where this log's photos are: files of dataDir, or the database. */
  readonly photos: PhotoStore;
  private recordedN = 0;
  private failedN = 0;
  private prunedN = 0;
  private commitsN = 0;
  private sincePrune = 0;
  private lastError: string | null = null;
  private lastErrorAt: string | null = null;
  private readonly lock = new RwLock();
  private pruning: Promise<unknown> | null = null;
  private closed = false;
  /** Records waiting for the next batch, and the loop writing batches (null when idle). */
  private pending: PendingRecord[] = [];
  private writer: Promise<void> | null = null;
  /** The hot path's statements on SQLite, prepared once (see sqliteStatements()). */
  private statements: SqliteStatements | null = null;

  private constructor(
    private readonly opened: OpenedDatabase | null,
    private readonly opts: LogOptions,
    openError: string | null,
  ) {
    this.dataDir = path.resolve(opts.dataDir);
    this.photos = new PhotoStore(this.dataDir, opened ? opened.dialect === 'postgres' : !!opts.db);
    if (openError) this.noteError(openError);
  }

  /**
   * Opens the log of a data folder. A corrupt database throws LogDatabaseError (the server must not
   * start on it); a folder that cannot be written gives a log that counts every record as failed.
   */
  static async open(opts: LogOptions): Promise<PredictionLog> {
    let opened: OpenedDatabase | null = null;
    let err: string | null = null;
    try {
      opened = await openLogDatabase(opts.dataDir, { url: opts.db, busyTimeoutMs: opts.busyTimeoutMs, poolSize: opts.poolSize });
    } catch (e) {
      if (e instanceof LogDatabaseError && e.code === 'corrupt') throw e;
      err = `prediction log unavailable: ${(e as Error).message}`;
    }
    const log = new PredictionLog(opened, opts, err);
    if (opened) {
      await fsp.mkdir(opts.dataDir, { recursive: true }).catch(() => {});
      await sweepTemporaries(opts.dataDir).catch(() => 0);
      await log.checkRecentPhotos().catch((e: Error) => log.noteError(`start-up photo check: ${e.message}`));
      await log.prune().catch((e: Error) => log.noteError(`retention: ${e.message}`));
    }
    return log;
  }

  /** How long an answer waits for its record (LogOptions.answerWaitMs). */
  get answerWaitMs(): number {
    return this.opts.answerWaitMs ?? 1000;
  }

  /** The database, for the review queries; null when it could not be opened. */
  get db(): Kysely<LogDatabase> | null {
    return this.opened?.db ?? null;
  }

  /** The SQLite file, or the PostgreSQL URL without its password. */
  get file(): string | null {
    return this.opened?.file ?? null;
  }

  get dialect(): 'sqlite' | 'postgres' | null {
    return this.opened?.dialect ?? null;
  }

  private noteError(msg: string): void {
    this.lastError = msg;
    this.lastErrorAt = new Date().toISOString();
  }

  stats(): LogStats {
    return {
      enabled: true,
      dataDir: this.dataDir,
      recorded: this.recordedN,
      failed: this.failedN,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      pruned: this.prunedN,
      commits: this.commitsN,
    };
  }

  /**
   * Records one request's photos; the prediction ids, or null when it failed (counted, never
   * thrown). It resolves once the rows are committed: a caller that answers after it knows the
   * record survives the process being killed.
   *
   * Group commit: records arriving while a batch is being written wait for the next batch, which
   * stores their photos at once (their writes and syncs run side by side) and inserts their rows in
   * one transaction. An idle log writes a record at once; under load the per-commit cost is shared.
   */
  record(entries: LogEntry[]): Promise<number[] | null> {
    if (!this.opened?.db || this.closed) {
      this.failedN += entries.length;
      this.opts.onFailure?.(entries.length);
      if (!this.opened?.db) this.noteError(this.lastError ?? 'prediction log unavailable');
      return Promise.resolve(null);
    }
    return new Promise((resolve) => {
      this.pending.push({ entries, resolve });
      this.startWriter();
    });
  }

  /** Starts the batch loop unless it runs; a record that arrives as it ends starts it again. */
  private startWriter(): void {
    this.writer ??= this.writeBatches().finally(() => {
      this.writer = null;
      if (this.pending.length) this.startWriter();
    });
  }

  private async writeBatches(): Promise<void> {
    while (this.pending.length) {
      const batch = this.pending.splice(0, this.pending.length);
      // writeBatch settles each record of the batch itself, except when it fails before any was.
      const settled = new Set<PendingRecord>();
      await this.writeBatch(batch, settled).catch((e: Error) => {
        for (const p of batch) if (!settled.has(p)) this.failed(p, `recording failed: ${e.message}`);
      });
    }
  }

  private failed(p: PendingRecord, message: string): void {
    this.failedN += p.entries.length;
    this.opts.onFailure?.(p.entries.length);
    this.noteError(message);
    p.resolve(null);
  }

  /**
   * Writes one batch: each request's rows in one transaction, and on SQLite each new photo's file
   * before it (a row only after its photo file is complete; a request whose photo could not be
   * written fails alone). Photos the table holds already are not written again.
   */
  private async writeBatch(batch: PendingRecord[], settled: Set<PendingRecord>): Promise<void> {
    const db = this.opened!.db;
    await this.lock.shared(async () => {
      const requests = batch.map((p) => ({ p, rows: p.entries.map((e) => ({ e, hash: photoHash(e.bytes), ext: photoExtension(e.bytes) })) }));
      const now = new Date().toISOString();
      const st = this.sqliteStatements();
      const committed = st
        ? // SQLite: synchronous from the known-photo check to the commit, on the builder's connection
          // (so no transaction of the review queries is open on it meanwhile).
          await db.connection().execute(async () => this.writeSqliteBatch(st, requests, settled, now))
        : await this.writePostgresBatch(requests, now);
      if (committed.ready.length === 0) return;
      this.commitsN++;
      committed.ready.forEach((p, i) => {
        this.recordedN += p.entries.length;
        this.sincePrune += p.entries.length;
        p.resolve(committed.ids[i]!);
      });
    });
    if (this.sincePrune >= (this.opts.pruneEvery ?? 500)) {
      this.sincePrune = 0;
      this.prune().catch((e: Error) => this.noteError(`retention: ${e.message}`));
    }
  }

  /**
   * SQLite: new photo files first, then the rows in one transaction of prepared statements. Photo
   * files are not synced one by one: a photo written and renamed survives the process being killed
   * (the guarantee of an answered prediction); after a power cut, open() removes the newest rows
   * whose photo did not reach the disk (checkRecentPhotos).
   */
  private writeSqliteBatch(st: SqliteStatements, requests: BatchRequest[], settled: Set<PendingRecord>, now: string): CommittedBatch {
    const stored = new Map<string, Error | null>();
    for (const r of requests.flatMap((q) => q.rows)) {
      if (stored.has(r.hash)) continue;
      try {
        if (!st.hasPhoto.get({ hash: r.hash })) writePhotoFile(this.dataDir, r.hash, r.ext, r.e.bytes);
        stored.set(r.hash, null);
      } catch (e) {
        stored.set(r.hash, e as Error);
      }
    }
    const ready: BatchRequest[] = [];
    for (const q of requests) {
      const bad = q.rows.map((r) => stored.get(r.hash)).find((e) => e);
      if (bad) {
        this.failed(q.p, `recording failed: ${bad.message}`);
        settled.add(q.p);
      } else ready.push(q);
    }
    const ids = this.opened!.sqlite!.transaction(() =>
      ready.map((q) =>
        q.rows.map(({ e, hash, ext }) => {
          st.insertPhoto.run(photoRow(hash, ext, e, now));
          return Number(st.insertPrediction.run(predictionRow(hash, e, now)).lastInsertRowid);
        }),
      ),
    )();
    return { ready: ready.map((q) => q.p), ids };
  }

  /** PostgreSQL: the photos' bytes go into the same transaction as their predictions. */
  private async writePostgresBatch(requests: BatchRequest[], now: string): Promise<CommittedBatch> {
    const db = this.opened!.db;
    const write = () =>
      db.transaction().execute(async (tx) => {
        const out: number[][] = [];
        for (const q of requests) {
          const reqIds: number[] = [];
          for (const { e, hash, ext } of q.rows) {
            await tx.insertInto('photos').values(photoRow(hash, ext, e, now)).onConflict((oc) => oc.column('hash').doNothing()).execute();
            await tx
              .insertInto('photo_blobs')
              .values({ hash, content: Buffer.from(e.bytes.buffer, e.bytes.byteOffset, e.bytes.byteLength) })
              .onConflict((oc) => oc.column('hash').doNothing())
              .execute();
            const row = await tx.insertInto('predictions').values(predictionRow(hash, e, now)).returning('id').executeTakeFirstOrThrow();
            reqIds.push(Number(row.id));
          }
          out.push(reqIds);
        }
        return out;
      });
    let ids: number[][];
    try {
      ids = await write();
    } catch (e) {
      // Another server on the same database pruned a photo's row between our insert (which found it
      // there) and our prediction's reference to it: the photo is inserted again.
      if ((e as { code?: string }).code !== FOREIGN_KEY_VIOLATION) throw e;
      ids = await write();
    }
    return { ready: requests.map((q) => q.p), ids };
  }

  /** The hot path's prepared statements on SQLite, built on first use; null on PostgreSQL. */
  private sqliteStatements(): SqliteStatements | null {
    const sqlite = this.opened?.sqlite;
    if (!sqlite || !this.opened) return null;
    const db = this.opened.db;
    this.statements ??= {
      hasPhoto: new PreparedQuery<{ hash: string }>(sqlite, ['hash'], (r) => db.selectFrom('photos').select('hash').where('hash', '=', r.hash)),
      insertPhoto: new PreparedQuery<PhotoRow>(sqlite, PHOTO_FIELDS, (r) => db.insertInto('photos').values(r).onConflict((oc) => oc.column('hash').doNothing())),
      insertPrediction: new PreparedQuery<PredictionRow>(sqlite, PREDICTION_FIELDS, (r) => db.insertInto('predictions').values(r)),
    };
    return this.statements;
  }

  /**
   * After a power cut the newest photos may be missing or short (they are not synced one by one):
   * checks the files of the `newest` most recently stored photos and removes the predictions (and
   * photo rows) of those that did not reach the disk, unless a reviewer decided on them. Returns
   * how many photos were dropped.
   */
  async checkRecentPhotos(newest = 1000): Promise<number> {
    const db = this.opened?.db;
    // On PostgreSQL the photos are rows committed with their predictions: nothing to check.
    if (!db || this.photos.inDatabase) return 0;
    const recent = await db.selectFrom('photos').select(['hash', 'ext', 'bytes']).orderBy('stored_at', 'desc').limit(newest).execute();
    const lost: string[] = [];
    for (const p of recent) {
      const size = await fsp.stat(photoPath(this.dataDir, p.hash, p.ext)).then((st) => st.size, () => -1);
      if (size !== Number(p.bytes)) lost.push(p.hash);
    }
    if (lost.length === 0) return 0;
    const reviewed = db.selectFrom('decisions').select('photo_hash');
    const dropped = await db.transaction().execute(async (tx) => {
      await tx.deleteFrom('predictions').where('photo_hash', 'in', lost).where('photo_hash', 'not in', reviewed).execute();
      const r = await tx.deleteFrom('photos').where('hash', 'in', lost).where('hash', 'not in', reviewed).where('hash', 'not in', tx.selectFrom('predictions').select('photo_hash')).executeTakeFirst();
      return Number(r.numDeletedRows);
    });
    const kept = new Set((await db.selectFrom('photos').select('hash').where('hash', 'in', lost).execute()).map((r) => r.hash));
    for (const p of recent) if (lost.includes(p.hash) && !kept.has(p.hash)) await fsp.rm(photoPath(this.dataDir, p.hash, p.ext), { force: true }).catch(() => {});
    if (dropped) this.noteError(`start-up: ${dropped} recent photo(s) had not reached the disk (power cut?); their predictions were removed`);
    return dropped;
  }

  /**
   * Retention: unreviewed predictions older than keepDays, then the oldest unreviewed ones while
   * the stored photos exceed maxBytes; photos no prediction or decision refers to any more are
   * deleted with their files. A photo with any decision (reviewed) is never removed.
   */
  prune(now = new Date()): Promise<{ predictions: number; photos: number }> {
    const db = this.opened?.db;
    if (!db) return Promise.resolve({ predictions: 0, photos: 0 });
    const run = async () =>
      this.lock.exclusive(async () => {
        const reviewed = db.selectFrom('decisions').select('photo_hash');
        let predictions = 0;
        if (this.opts.keepDays !== undefined) {
          const cutoff = new Date(now.getTime() - this.opts.keepDays * 86_400_000).toISOString();
          const r = await db.deleteFrom('predictions').where('logged_at', '<', cutoff).where('photo_hash', 'not in', reviewed).executeTakeFirst();
          predictions += Number(r.numDeletedRows);
        }
        let photos = await this.dropOrphanPhotos();
        const cap = this.opts.maxBytes;
        if (cap !== undefined) {
          for (;;) {
            const { total } = await db.selectFrom('photos').select((eb) => eb.fn.coalesce(eb.fn.sum<number>('bytes'), eb.lit(0)).as('total')).executeTakeFirstOrThrow();
            if (Number(total) <= cap) break;
            // The oldest unreviewed predictions, as many as free enough photo bytes (a photo counts
            // once; one a later prediction still uses is freed by a later round).
            const oldest = await db
              .selectFrom('predictions as pr')
              .innerJoin('photos as ph', 'ph.hash', 'pr.photo_hash')
              .select(['pr.id', 'pr.photo_hash', 'ph.bytes'])
              .where('pr.photo_hash', 'not in', reviewed)
              .orderBy('pr.logged_at')
              .orderBy('pr.id')
              .limit(200)
              .execute();
            if (oldest.length === 0) break; // only reviewed photos left
            const drop: number[] = [];
            const seen = new Set<string>();
            let freed = 0;
            for (const o of oldest) {
              drop.push(o.id);
              if (!seen.has(o.photo_hash)) freed += Number(o.bytes);
              seen.add(o.photo_hash);
              if (Number(total) - freed <= cap) break;
            }
            const r = await db.deleteFrom('predictions').where('id', 'in', drop).executeTakeFirst();
            predictions += Number(r.numDeletedRows);
            photos += await this.dropOrphanPhotos();
          }
        }
        this.prunedN += predictions;
        return { predictions, photos };
      });
    const p = (this.pruning ?? Promise.resolve()).then(run, run);
    this.pruning = p.catch(() => {});
    return p;
  }

  private async dropOrphanPhotos(): Promise<number> {
    const db = this.opened!.db;
    const unused = <QB extends { where: (...a: any[]) => QB }>(q: QB): QB =>
      q
        .where('hash', 'not in', db.selectFrom('predictions').select('photo_hash'))
        .where('hash', 'not in', db.selectFrom('decisions').select('photo_hash'));
    const orphans = await unused(db.selectFrom('photos').select(['hash', 'ext'])).execute();
    if (orphans.length === 0) return 0;
    const gone: typeof orphans = [];
    for (let i = 0; i < orphans.length; i += 200) {
      // The condition again: another server on the same database may have logged the photo since.
      const chunk = orphans.slice(i, i + 200).map((o) => o.hash);
      gone.push(...(await unused(db.deleteFrom('photos').where('hash', 'in', chunk)).returning(['hash', 'ext']).execute()));
    }
    // Files after the rows: a crash in between leaves a file nothing points at, never a row without
    // its file. In the database the blobs go with their rows (ON DELETE CASCADE); the local cache's
    // copies go too.
    for (const o of gone) await fsp.rm(photoPath(this.dataDir, o.hash, o.ext), { force: true });
    return gone.length;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writer;
    await this.pruning;
    await this.lock.exclusive(async () => {});
    await this.opened?.db.destroy();
  }
}
