// API keys: created by `pnpm keys add`, shown once, stored as a hash; presented by clients as
// `Authorization: Bearer <key>` or `X-API-Key: <key>`. A key is 32 random bytes (256 bits), so a
// plain SHA-256 is the right hash here: a slow password hash (scrypt) guards low-entropy secrets
// against guessing, and no guessing reaches a 256-bit space; a fast, unsalted hash also lets a
// presented key be found by an indexed equality lookup instead of a scan of every row.
import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { LogDatabase } from '../log/schema';

/** The server's database (the access tables live beside the log's). */
type Db = Kysely<LogDatabase>;

export const KEY_PREFIX = 'parts_';
/** What a key looks like: the prefix and 43 base64url characters (32 bytes). */
const KEY_RE = /^parts_[A-Za-z0-9_-]{43}$/;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9 ._:@#-]{0,63}$/;

export interface ApiKeyInfo {
  id: number;
  name: string;
  /** The key's first characters (e.g. `parts_Ab3d`), enough to tell keys apart in a list. */
  prefix: string;
  createdAt: string;
  revokedAt: string | null;
}

/** A key just made: the only time the key itself is known. */
export interface NewApiKey extends ApiKeyInfo {
  key: string;
}

/** A refused keys/accounts operation (bad name, duplicate, not found); the message says which. */
export class AccessError extends Error {
  constructor(
    message: string,
    readonly code: 'bad-name' | 'exists' | 'not-found' | 'bad-password' | 'no-terminal',
  ) {
    super(message);
    this.name = 'AccessError';
  }
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Checks a key or account name: 1-64 letters, digits, spaces or `. _ : @ # -`, starting with a letter or digit. */
export function checkName(name: string, what: string): string {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new AccessError(`${what} name ${JSON.stringify(name)} is not allowed: use 1-64 letters, digits, spaces or . _ : @ # - (starting with a letter or digit)`, 'bad-name');
  }
  return name;
}

const info = (r: { id: number; name: string; prefix: string; created_at: string; revoked_at: string | null }): ApiKeyInfo => ({
  id: r.id,
  name: r.name,
  prefix: r.prefix,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
});

/** Makes a key named `name`; the key is in the answer and nowhere else. */
export async function createApiKey(db: Db, name: string): Promise<NewApiKey> {
  checkName(name, 'key');
  const existing = await db.selectFrom('api_keys').select(['revoked_at']).where('name', '=', name).executeTakeFirst();
  if (existing) throw new AccessError(`a key named ${JSON.stringify(name)} already exists${existing.revoked_at ? ' (revoked)' : ''}: choose another name`, 'exists');
  const key = KEY_PREFIX + randomBytes(32).toString('base64url');
  const prefix = key.slice(0, KEY_PREFIX.length + 4);
  const createdAt = new Date().toISOString();
  const row = await db
    .insertInto('api_keys')
    .values({ name, prefix, key_hash: hashApiKey(key), created_at: createdAt, revoked_at: null })
    .returning(['id'])
    .executeTakeFirstOrThrow();
  return { id: Number(row.id), name, prefix, createdAt, revokedAt: null, key };
}

export async function listApiKeys(db: Db): Promise<ApiKeyInfo[]> {
  const rows = await db.selectFrom('api_keys').select(['id', 'name', 'prefix', 'created_at', 'revoked_at']).orderBy('id').execute();
  return rows.map(info);
}

/** Revokes the key of that name, or of that id when `nameOrId` is all digits and no key has it as name. */
export async function revokeApiKey(db: Db, nameOrId: string): Promise<ApiKeyInfo> {
  let row = await db.selectFrom('api_keys').selectAll().where('name', '=', nameOrId).executeTakeFirst();
  if (!row && /^\d+$/.test(nameOrId)) row = await db.selectFrom('api_keys').selectAll().where('id', '=', Number(nameOrId)).executeTakeFirst();
  if (!row) throw new AccessError(`no key named or numbered ${JSON.stringify(nameOrId)} (pnpm keys list shows them)`, 'not-found');
  if (row.revoked_at) return info(row);
  const revokedAt = new Date().toISOString();
  await db.updateTable('api_keys').set({ revoked_at: revokedAt }).where('id', '=', row.id).execute();
  return info({ ...row, revoked_at: revokedAt });
}

/** The key's row (revoked or not), or null when the text is no key this database made. */
export async function findApiKey(db: Db, key: string): Promise<ApiKeyInfo | null> {
  if (!KEY_RE.test(key)) return null;
  const row = await db.selectFrom('api_keys').select(['id', 'name', 'prefix', 'created_at', 'revoked_at']).where('key_hash', '=', hashApiKey(key)).executeTakeFirst();
  return row ? info(row) : null;
}

/** Whether any key was ever made (revoked ones count: once keys are in use, /api/* stays keyed). */
export async function anyApiKeys(db: Db): Promise<boolean> {
  return (await db.selectFrom('api_keys').select('id').limit(1).executeTakeFirst()) !== undefined;
}
