// The prediction log: every answered photo with its decision, in the data folder (SQLite by
// default) or in a PostgreSQL database several servers share (see db.ts). Recording never throws:
// a failure (full disk, locked, unreachable or corrupt database) is counted and kept as lastError,
// and the photo's answer goes out regardless. A photo's bytes (photo_blobs, stored once by content
// hash) and its prediction are written in one transaction per batch of requests (group commit, see
// record()), so a failure or a kill leaves no row without its photo. On SQLite commits are not
// synced one by one (synchronous = NORMAL in WAL mode): a commit survives the process being killed,
// a power cut may lose the newest ones, photo and row together.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Insertable, Kysely } from 'kysely';
import type { OodDecision } from '@parts/models';
import { LogDatabaseError, openLogDatabase, type OpenedDatabase } from './db';
import { photoExtension, photoHash, photoPath, PhotoStore, sweepTemporaries } from './photo-store';
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
  /** The data folder: log.sqlite (SQLite), the local photo cache (photos/) and jobs. */
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

/** One request's photos of a batch, each with its content hash and stored extension. */
type BatchRequest = { e: LogEntry; hash: string; ext: string }[];

/** A photo's bytes as a Buffer over the same memory (what both drivers bind as a blob). */
function blobOf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
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
  insertPhoto: PreparedQuery<PhotoRow>;
  insertBlob: PreparedQuery<{ hash: string; content: Buffer }>;
  insertPrediction: PreparedQuery<PredictionRow>;
}

export class PredictionLog {
  readonly dataDir: string;
  /** This log's photos: rows of its database, with a cache of files in dataDir. */
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
    this.photos = new PhotoStore(this.dataDir);
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
   * Group commit: records arriving while a batch is being written wait for the next batch, whose
   * photos and rows go into one transaction. An idle log writes a record at once; under load the
   * per-commit cost is shared.
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
      // A batch that fails is written again one record at a time, so a record that cannot be
      // written fails alone (a locked or full database fails each of them in turn).
      const error = await this.writeBatch(batch).then(() => null, (e: Error) => e);
      if (!error) continue;
      if (batch.length === 1) this.failed(batch[0]!, `recording failed: ${error.message}`);
      else for (const p of batch) await this.writeBatch([p]).catch((e: Error) => this.failed(p, `recording failed: ${e.message}`));
    }
  }

  private failed(p: PendingRecord, message: string): void {
    this.failedN += p.entries.length;
    this.opts.onFailure?.(p.entries.length);
    this.noteError(message);
    p.resolve(null);
  }

  /** Writes one batch: every request's photos and rows in one transaction (all of them, or none). */
  private async writeBatch(batch: PendingRecord[]): Promise<void> {
    const db = this.opened!.db;
    await this.lock.shared(async () => {
      const requests = batch.map((p) => p.entries.map((e) => ({ e, hash: photoHash(e.bytes), ext: photoExtension(e.bytes) })));
      const now = new Date().toISOString();
      const st = this.sqliteStatements();
      const ids = st
        ? // SQLite: synchronous, on the builder's connection (so no transaction of the review queries
          // is open on it meanwhile).
          await db.connection().execute(async () => this.writeSqliteBatch(st, requests, now))
        : await this.writePostgresBatch(requests, now);
      this.commitsN++;
      batch.forEach((p, i) => {
        this.recordedN += p.entries.length;
        this.sincePrune += p.entries.length;
        p.resolve(ids[i]!);
      });
    });
    if (this.sincePrune >= (this.opts.pruneEvery ?? 500)) {
      this.sincePrune = 0;
      this.prune().catch((e: Error) => this.noteError(`retention: ${e.message}`));
    }
  }

  /** SQLite: one transaction of statements prepared once; a photo the tables hold already is not written again. */
  private writeSqliteBatch(st: SqliteStatements, requests: BatchRequest[], now: string): number[][] {
    const sqlite = this.opened!.sqlite!;
    // Inside an open transaction better-sqlite3 would only take a savepoint, and the records would
    // be answered as committed before they are.
    if (sqlite.inTransaction) throw new Error('prediction log: a transaction is already open on its connection');
    return sqlite.transaction(() =>
      requests.map((rows) =>
        rows.map(({ e, hash, ext }) => {
          st.insertPhoto.run(photoRow(hash, ext, e, now));
          st.insertBlob.run({ hash, content: blobOf(e.bytes) });
          return Number(st.insertPrediction.run(predictionRow(hash, e, now)).lastInsertRowid);
        }),
      ),
    )();
  }

  /** PostgreSQL: the photos' bytes go into the same transaction as their predictions. */
  private async writePostgresBatch(requests: BatchRequest[], now: string): Promise<number[][]> {
    const db = this.opened!.db;
    const write = () =>
      db.transaction().execute(async (tx) => {
        const out: number[][] = [];
        for (const rows of requests) {
          const reqIds: number[] = [];
          for (const { e, hash, ext } of rows) {
            await tx.insertInto('photos').values(photoRow(hash, ext, e, now)).onConflict((oc) => oc.column('hash').doNothing()).execute();
            await tx
              .insertInto('photo_blobs')
              .values({ hash, content: blobOf(e.bytes) })
              .onConflict((oc) => oc.column('hash').doNothing())
              .execute();
            const row = await tx.insertInto('predictions').values(predictionRow(hash, e, now)).returning('id').executeTakeFirstOrThrow();
            reqIds.push(Number(row.id));
          }
          out.push(reqIds);
        }
        return out;
      });
    try {
      return await write();
    } catch (e) {
      // Another server on the same database pruned a photo's row between our insert (which found it
      // there) and our prediction's reference to it: the photo is inserted again.
      if ((e as { code?: string }).code !== FOREIGN_KEY_VIOLATION) throw e;
      return await write();
    }
  }

  /** The hot path's prepared statements on SQLite, built on first use; null on PostgreSQL. */
  private sqliteStatements(): SqliteStatements | null {
    const sqlite = this.opened?.sqlite;
    if (!sqlite || !this.opened) return null;
    const db = this.opened.db;
    this.statements ??= {
      insertPhoto: new PreparedQuery<PhotoRow>(sqlite, PHOTO_FIELDS, (r) => db.insertInto('photos').values(r).onConflict((oc) => oc.column('hash').doNothing())),
      insertBlob: new PreparedQuery<{ hash: string; content: Buffer }>(sqlite, ['hash', 'content'], (r) =>
        db.insertInto('photo_blobs').values(r).onConflict((oc) => oc.column('hash').doNothing()),
      ),
      insertPrediction: new PreparedQuery<PredictionRow>(sqlite, PREDICTION_FIELDS, (r) => db.insertInto('predictions').values(r)),
    };
    return this.statements;
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
    // The bytes go with their rows (ON DELETE CASCADE); then the local cache's copies (or an earlier
    // version's photo files): a crash in between leaves a file nothing points at, never a row without
    // its photo.
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
