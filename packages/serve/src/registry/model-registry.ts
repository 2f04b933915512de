// The model registry in the shared database: every promoted model stored by content (its files as
// rows of model_files, the model named by the sha256 of its file list), and the history of the
// model in service (promotions: what, when, who, why; the latest row is the one every server
// started with --db serves). A promotion is one transaction: the model's rows (when new), its
// promotions row and, on PostgreSQL, the NOTIFY that wakes the servers, which PostgreSQL delivers
// only when the transaction commits. A model is materialised into a local folder by writing a
// staged copy, checking every file's hash and renaming it into place.
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PostgresAdapter, sql, type Kysely, type Transaction } from 'kysely';
import type { LogDatabase } from '../log/schema';

/** The PostgreSQL channel a promotion or rollback is announced on (payload: the model hash). */
export const MODEL_CHANNEL = 'parts_model';

export interface ModelFile {
  /** Path inside the model folder, '/'-separated. */
  path: string;
  sha256: string;
  bytes: Buffer;
}

export interface Promotion {
  id: number;
  at: string;
  action: 'promote' | 'rollback';
  modelHash: string;
  runId: string;
  previousHash: string | null;
  actor: string;
  note: string | null;
}

function sha256(b: Uint8Array | string): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Every file of a model folder and its subfolders (parity/), in path order. */
export async function readModelFiles(dir: string): Promise<ModelFile[]> {
  const out: ModelFile[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const e of (await fsp.readdir(path.join(dir, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const name = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(name);
      else if (e.isFile()) {
        const bytes = await fsp.readFile(path.join(dir, name));
        out.push({ path: name, sha256: sha256(bytes), bytes });
      }
    }
  };
  await walk('');
  if (!out.length) throw new Error(`model folder ${dir} is empty`);
  return out;
}

/** The registry's name of a model: sha256 over its sorted "path NUL sha256" lines. */
export function modelHash(files: readonly Pick<ModelFile, 'path' | 'sha256'>[]): string {
  return sha256([...files].sort((a, b) => (a.path < b.path ? -1 : 1)).map((f) => `${f.path}\0${f.sha256}\n`).join(''));
}

function runIdOf(files: readonly ModelFile[], hash: string): { runId: string; card: string | null } {
  const card = files.find((f) => f.path === 'model-card.json')?.bytes.toString('utf8') ?? null;
  for (const f of [card, files.find((f) => f.path === 'classifier.json')?.bytes.toString('utf8')]) {
    if (!f) continue;
    try {
      const id = (JSON.parse(f) as { runId?: unknown }).runId;
      if (typeof id === 'string' && id) return { runId: id, card };
    } catch {
      // not JSON: named by its hash
    }
  }
  return { runId: `sha-${hash.slice(0, 12)}`, card };
}

/** Who ran the command: user@host. */
export function defaultActor(): string {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    // no passwd entry
  }
  return `${user}@${os.hostname()}`.slice(0, 128);
}

function isPostgres(db: Kysely<LogDatabase>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/** Stores a model's rows unless they are there; returns its hash and run id. */
async function storeModel(tx: Transaction<LogDatabase>, files: ModelFile[], actor: string, at: string): Promise<{ hash: string; runId: string }> {
  const hash = modelHash(files);
  const { runId, card } = runIdOf(files, hash);
  const known = await tx.selectFrom('models').select('hash').where('hash', '=', hash).executeTakeFirst();
  if (known) return { hash, runId };
  const bytes = files.reduce((n, f) => n + f.bytes.length, 0);
  await tx.insertInto('models').values({ hash, run_id: runId, card, files: files.length, bytes, stored_at: at, stored_by: actor }).execute();
  for (const f of files) {
    await tx.insertInto('model_files').values({ model_hash: hash, path: f.path, sha256: f.sha256, bytes: f.bytes.length, content: f.bytes }).execute();
  }
  return { hash, runId };
}

function toPromotion(r: { id: number; at: string; action: string; model_hash: string; run_id: string; previous_hash: string | null; actor: string; note: string | null }): Promotion {
  return { id: Number(r.id), at: r.at, action: r.action as Promotion['action'], modelHash: r.model_hash, runId: r.run_id, previousHash: r.previous_hash, actor: r.actor, note: r.note };
}

/** The model in service by the registry (its latest promotions row), or null when nothing was promoted. */
export async function currentPromotion(db: Kysely<LogDatabase>): Promise<Promotion | null> {
  const r = await db.selectFrom('promotions').selectAll().orderBy('id', 'desc').limit(1).executeTakeFirst();
  return r ? toPromotion(r) : null;
}

/** Every promotion and rollback, oldest first. */
export async function listPromotions(db: Kysely<LogDatabase>): Promise<Promotion[]> {
  return (await db.selectFrom('promotions').selectAll().orderBy('id').execute()).map(toPromotion);
}

export interface RecordPromotionOptions {
  action: 'promote' | 'rollback';
  /** Why (the selection rule, or the rollback asked for). */
  note?: string | null;
  /** Who. Default user@host. */
  actor?: string;
  now?: Date;
}

/**
 * Puts the model of folder `dir` in service in the registry: its rows (once per content), a
 * promotions row naming the model in service before, and the notification, in one transaction.
 * A folder already in service gives no new row (returns the current one, `changed` false).
 */
export async function recordPromotion(db: Kysely<LogDatabase>, dir: string, o: RecordPromotionOptions): Promise<Promotion & { changed: boolean }> {
  const files = await readModelFiles(dir);
  const actor = (o.actor ?? defaultActor()).slice(0, 128);
  const at = (o.now ?? new Date()).toISOString();
  return db.transaction().execute(async (tx) => {
    // One promotion at a time: the previous model named in the row is the one really replaced.
    if (isPostgres(db)) await sql`LOCK TABLE promotions IN SHARE ROW EXCLUSIVE MODE`.execute(tx);
    const { hash, runId } = await storeModel(tx, files, actor, at);
    const cur = await tx.selectFrom('promotions').selectAll().orderBy('id', 'desc').limit(1).executeTakeFirst();
    if (cur?.model_hash === hash) return { ...toPromotion(cur), changed: false };
    const row = await tx
      .insertInto('promotions')
      .values({ at, action: o.action, model_hash: hash, run_id: runId, previous_hash: cur?.model_hash ?? null, actor, note: o.note ?? null })
      .returningAll()
      .executeTakeFirstOrThrow();
    if (isPostgres(db)) await sql`SELECT pg_notify(${MODEL_CHANNEL}, ${hash})`.execute(tx);
    return { ...toPromotion(row), changed: true };
  });
}

/**
 * Writes the registry's model `hash` to `<cacheDir>/<hash>/` unless it is there: a staged folder,
 * every file checked against its sha256 and the set against the hash, then renamed into place.
 * Returns the folder.
 */
export async function materialiseModel(db: Kysely<LogDatabase>, hash: string, cacheDir: string): Promise<string> {
  if (!/^[0-9a-f]{64}$/.test(hash)) throw new Error(`not a model hash: ${JSON.stringify(hash)}`);
  const dir = path.join(path.resolve(cacheDir), hash);
  if (await fsp.stat(dir).then(() => true, () => false)) return dir;
  const rows = await db.selectFrom('model_files').select(['path', 'sha256', 'content']).where('model_hash', '=', hash).orderBy('path').execute();
  if (!rows.length) throw new Error(`model ${hash} is not in the registry (no files)`);
  if (modelHash(rows) !== hash) throw new Error(`model ${hash} in the registry: its file list does not match its hash`);
  await fsp.mkdir(path.dirname(dir), { recursive: true });
  const staged = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    for (const r of rows) {
      const rel = r.path;
      if (rel.split('/').some((p) => p === '' || p === '.' || p === '..') || path.isAbsolute(rel)) throw new Error(`model ${hash}: unsafe file path ${JSON.stringify(rel)}`);
      const content = Buffer.from(r.content);
      if (sha256(content) !== r.sha256) throw new Error(`model ${hash}: ${rel} does not match its sha256 in the registry`);
      const file = path.join(staged, ...rel.split('/'));
      await fsp.mkdir(path.dirname(file), { recursive: true });
      await fsp.writeFile(file, content);
    }
    await fsp.rename(staged, dir).catch(async (e: NodeJS.ErrnoException) => {
      // Another process of this machine materialised it meanwhile: theirs is as good.
      if (!(await fsp.stat(dir).then(() => true, () => false))) throw e;
      await fsp.rm(staged, { recursive: true, force: true });
    });
  } catch (e) {
    await fsp.rm(staged, { recursive: true, force: true });
    throw e;
  }
  return dir;
}

/** A model's run id, or null when the registry does not hold it. */
export async function registryModel(db: Kysely<LogDatabase>, hash: string): Promise<{ hash: string; runId: string } | null> {
  const r = await db.selectFrom('models').select(['hash', 'run_id']).where('hash', '=', hash).executeTakeFirst();
  return r ? { hash: r.hash, runId: r.run_id } : null;
}

export interface RefusalRecord {
  replica: string;
  modelHash: string;
  runId: string | null;
  reason: string;
  parity: unknown;
  now?: Date;
}

/** Records that a server refused a model (failed to load or failed its parity check there). */
export async function recordRefusal(db: Kysely<LogDatabase>, r: RefusalRecord): Promise<void> {
  await db
    .insertInto('model_refusals')
    .values({
      at: (r.now ?? new Date()).toISOString(),
      replica: r.replica.slice(0, 256),
      model_hash: r.modelHash,
      run_id: r.runId,
      reason: r.reason,
      parity: r.parity == null ? null : JSON.stringify(r.parity),
    })
    .execute();
}

export async function listRefusals(db: Kysely<LogDatabase>): Promise<{ at: string; replica: string; modelHash: string; runId: string | null; reason: string }[]> {
  const rows = await db.selectFrom('model_refusals').selectAll().orderBy('id').execute();
  return rows.map((r) => ({ at: r.at, replica: r.replica, modelHash: r.model_hash, runId: r.run_id, reason: r.reason }));
}
