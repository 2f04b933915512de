// Login sessions: a random 256-bit token in the session cookie, stored as its SHA-256 with an expiry
// (a fast hash suffices for a high-entropy token, as for API keys, and the lookup stays an indexed
// equality). The CSRF token of a session is derived from its token (HMAC-like SHA-256 with a fixed
// label), so it is bound to the session without another column, and it cannot be computed by a page
// that cannot read the HttpOnly cookie.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { LogDatabase } from '../log/schema';

/** The server's database (the access tables live beside the log's). */
type Db = Kysely<LogDatabase>;

export interface Session {
  reviewerId: number;
  reviewer: string;
  expiresAt: string;
  /** The synchronizer token the session's forms and review API calls must carry. */
  csrf: string;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

export function csrfTokenOf(sessionToken: string): string {
  return createHash('sha256').update('parts-csrf\0').update(sessionToken, 'utf8').digest('base64url');
}

/** Constant-time equality of two strings (false when their lengths differ). */
export function sameSecret(a: string | undefined, b: string | undefined): boolean {
  if (typeof a !== 'string' || typeof b !== 'string') return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Starts a session of `ttlMs`; returns the cookie's token (stored only hashed). Expired sessions are removed on the way. */
export async function createSession(db: Db, reviewerId: number, ttlMs: number): Promise<{ token: string; expiresAt: string }> {
  const now = new Date();
  await db.deleteFrom('sessions').where('expires_at', '<=', now.toISOString()).execute();
  const token = randomBytes(32).toString('base64url');
  const expiresAt = new Date(now.getTime() + ttlMs).toISOString();
  await db.insertInto('sessions').values({ token_hash: sha256(token), reviewer_id: reviewerId, created_at: now.toISOString(), expires_at: expiresAt }).execute();
  return { token, expiresAt };
}

/** The live session of a cookie token, or null (unknown, expired, or its account removed). */
export async function findSession(db: Db, token: string): Promise<Session | null> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
  const row = await db
    .selectFrom('sessions')
    .innerJoin('reviewers', 'reviewers.id', 'sessions.reviewer_id')
    .select(['sessions.reviewer_id', 'reviewers.name', 'sessions.expires_at'])
    .where('sessions.token_hash', '=', sha256(token))
    .where('sessions.expires_at', '>', new Date().toISOString())
    .executeTakeFirst();
  return row ? { reviewerId: row.reviewer_id, reviewer: row.name, expiresAt: row.expires_at, csrf: csrfTokenOf(token) } : null;
}

export async function deleteSession(db: Db, token: string): Promise<void> {
  await db.deleteFrom('sessions').where('token_hash', '=', sha256(token)).execute();
}

/** The stored hash of a token (tests read the row by it). */
export const sessionTokenHash = sha256;
