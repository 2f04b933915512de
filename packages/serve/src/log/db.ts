// Opening the prediction log's database. SQLite (embedded default, <dataDir>/log.sqlite): WAL mode
// (readers never block the writer, a committed row survives the process being killed), a short
// busy timeout (a locked database fails a write quickly instead of holding a camera's answer); a
// corrupt file is refused with what to do, instead of being written over. PostgreSQL (a
// postgres:// URL, shared by several servers): a connection pool of the `pg` package through
// Kysely's PostgresDialect. Both get the same migrations and the same queries.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { migrateToLatest } from './migrations';
import type { LogDatabase } from './schema';

export const DB_FILE = 'log.sqlite';

/** A log database that cannot be used as it is; the message names the file and how to recover. */
export class LogDatabaseError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly code: 'corrupt' | 'unopenable',
  ) {
    super(message);
    this.name = 'LogDatabaseError';
  }
}

const CORRUPT_CODES = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_CORRUPT_INDEX', 'SQLITE_CORRUPT_VTAB', 'SQLITE_CORRUPT_SEQUENCE']);

export function isCorruption(e: unknown): boolean {
  const code = (e as { code?: string })?.code ?? '';
  return CORRUPT_CODES.has(code) || /malformed|not a database/i.test((e as Error)?.message ?? '');
}

export function corruptMessage(file: string, detail: string): string {
  return (
    `prediction log database ${file} is corrupt (${detail}). Nothing was written to it. To recover: stop the server, ` +
    `move ${path.basename(file)} and any ${path.basename(file)}-wal / -shm beside it out of ${path.dirname(file)} and keep them ` +
    `(the logged photos are inside the file, in photo_blobs), then start again for an empty log; ` +
    `rows and photos can often be saved with: sqlite3 ${file} .recover | sqlite3 recovered.sqlite`
  );
}

export type LogDialect = 'sqlite' | 'postgres';

export interface OpenedDatabase {
  db: Kysely<LogDatabase>;
  /** The SQLite handle; null on PostgreSQL. */
  sqlite: Database.Database | null;
  /** The SQLite file, or the PostgreSQL URL without its password (for messages). */
  file: string;
  dialect: LogDialect;
}

export interface OpenDatabaseOptions {
  /** A postgres:// (or postgresql://) URL: the shared database instead of <dataDir>/log.sqlite. */
  url?: string;
  /** SQLite busy timeout, ms. Default 200. */
  busyTimeoutMs?: number;
  /** Most PostgreSQL connections this process holds. Default 10. */
  poolSize?: number;
}

/** Whether a --db value names a PostgreSQL database. */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/** A database URL without its password, for logs and error messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}

/** Checks a --db value: a postgres:// URL with a host and a database name; the error names what is wrong. */
export function checkDatabaseUrl(url: string): string {
  if (!isPostgresUrl(url)) throw new RangeError(`--db must be a postgres://user@host:port/database URL (got '${redactUrl(url)}'); without --db the log is SQLite in --data-dir`);
  let u: URL;
  try {
    u = new URL(url);
  } catch (e) {
    throw new RangeError(`--db ${redactUrl(url)} is not a URL: ${(e as Error).message}`);
  }
  if (!u.hostname) throw new RangeError(`--db ${redactUrl(url)} names no host`);
  if (u.pathname.replace(/^\//, '') === '') throw new RangeError(`--db ${redactUrl(url)} names no database (postgres://user@host:port/<database>)`);
  return url;
}

/** A pg pool on a checked URL; integer columns of bigint type (count, sum) come back as strings and are read with Number(). */
export function postgresPool(url: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: checkDatabaseUrl(url), max, connectionTimeoutMillis: 10_000 });
  // An idle client losing its connection (server restart) must not take the process down; the next query reconnects.
  pool.on('error', () => {});
  return pool;
}

/** Opens a PostgreSQL database and applies the migrations (concurrent starts are serialised by the migration lock). */
export async function openPostgresDatabase(url: string, o: { poolSize?: number } = {}): Promise<OpenedDatabase> {
  const shown = redactUrl(url);
  const pool = postgresPool(url, o.poolSize);
  const db = new Kysely<LogDatabase>({ dialect: new PostgresDialect({ pool }) });
  try {
    const c = await pool.connect();
    c.release();
  } catch (e) {
    await db.destroy();
    throw new LogDatabaseError(`prediction log database ${shown} cannot be reached: ${(e as Error).message}`, shown, 'unopenable');
  }
  try {
    await migrateToLatest(db);
  } catch (e) {
    await db.destroy();
    throw new LogDatabaseError(`prediction log database ${shown}: migration failed: ${(e as Error).message}`, shown, 'unopenable');
  }
  return { db, sqlite: null, file: shown, dialect: 'postgres' };
}

/**
 * Opens the log database: PostgreSQL when `o.url` is given, else (creating when absent)
 * `<dataDir>/log.sqlite`, checked; either way with the migrations applied.
 */
export async function openLogDatabase(dataDir: string, o: OpenDatabaseOptions = {}): Promise<OpenedDatabase> {
  if (o.url) return openPostgresDatabase(o.url, { poolSize: o.poolSize });
  await fsp.mkdir(dataDir, { recursive: true });
  const file = path.join(path.resolve(dataDir), DB_FILE);
  let sqlite: Database.Database;
  try {
    sqlite = new Database(file);
  } catch (e) {
    throw new LogDatabaseError(`prediction log database ${file} cannot be opened: ${(e as Error).message}`, file, 'unopenable');
  }
  try {
    sqlite.pragma(`busy_timeout = ${Math.round(o.busyTimeoutMs ?? 200)}`);
    sqlite.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a commit survives the process dying (kill -9); only a power cut may lose the last ones.
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    const check = sqlite.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw Object.assign(new Error(String(check)), { code: 'SQLITE_CORRUPT' });
  } catch (e) {
    sqlite.close();
    if (isCorruption(e)) throw new LogDatabaseError(corruptMessage(file, (e as Error).message), file, 'corrupt');
    throw new LogDatabaseError(`prediction log database ${file} cannot be used: ${(e as Error).message}`, file, 'unopenable');
  }
  const db = new Kysely<LogDatabase>({ dialect: new SqliteDialect({ database: sqlite }) });
  try {
    await migrateToLatest(db);
  } catch (e) {
    await db.destroy();
    if (isCorruption(e)) throw new LogDatabaseError(corruptMessage(file, (e as Error).message), file, 'corrupt');
    throw new LogDatabaseError(`prediction log database ${file}: migration failed: ${(e as Error).message}`, file, 'unopenable');
  }
  return { db, sqlite, file, dialect: 'sqlite' };
}
