// Opening the prediction log's SQLite database: WAL mode (readers never block the writer, a
// committed row survives the process being killed), a short busy timeout (a locked database fails
// a write quickly instead of holding a camera's answer) and the migrations. A corrupt file is
// refused with what to do, instead of being written over.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
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
    `move ${path.basename(file)} and any ${path.basename(file)}-wal / -shm beside it out of ${path.dirname(file)} ` +
    `(the stored photos in ${path.join(path.dirname(file), 'photos')} stay), then start again for an empty log; ` +
    `rows can often be saved with: sqlite3 ${file} .recover | sqlite3 recovered.sqlite`
  );
}

export interface OpenedDatabase {
  db: Kysely<LogDatabase>;
  sqlite: Database.Database;
  file: string;
}

/** Opens (creating when absent) `<dataDir>/log.sqlite`, checks it and applies the migrations. */
export async function openLogDatabase(dataDir: string, o: { busyTimeoutMs?: number } = {}): Promise<OpenedDatabase> {
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
  return { db, sqlite, file };
}
