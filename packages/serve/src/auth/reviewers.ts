// Reviewer accounts for the review page: `pnpm users add|list|remove|passwd`, and the check of a
// login. Passwords are hashed by passwords.ts; removing an account or changing its password ends its
// sessions.
import type { Kysely } from 'kysely';
import { AccessError, checkName } from './api-keys';
import { dummyHash, hashPassword, passwordProblem, verifyPassword } from './passwords';
import type { LogDatabase } from '../log/schema';

/** The server's database (the access tables live beside the log's). */
type Db = Kysely<LogDatabase>;

export interface ReviewerInfo {
  id: number;
  name: string;
  createdAt: string;
  passwordChangedAt: string;
}

function checkPassword(password: string): void {
  const problem = passwordProblem(password);
  if (problem) throw new AccessError(problem, 'bad-password');
}

export async function addReviewer(db: Db, name: string, password: string): Promise<ReviewerInfo> {
  checkName(name, 'reviewer');
  checkPassword(password);
  if (await db.selectFrom('reviewers').select('id').where('name', '=', name).executeTakeFirst()) {
    throw new AccessError(`a reviewer named ${JSON.stringify(name)} already exists (pnpm users passwd ${name} changes the password)`, 'exists');
  }
  const now = new Date().toISOString();
  const row = await db
    .insertInto('reviewers')
    .values({ name, password_hash: await hashPassword(password), created_at: now, password_changed_at: now })
    .returning(['id'])
    .executeTakeFirstOrThrow();
  return { id: Number(row.id), name, createdAt: now, passwordChangedAt: now };
}

export async function listReviewers(db: Db): Promise<ReviewerInfo[]> {
  const rows = await db.selectFrom('reviewers').select(['id', 'name', 'created_at', 'password_changed_at']).orderBy('name').execute();
  return rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at, passwordChangedAt: r.password_changed_at }));
}

async function idOf(db: Db, name: string): Promise<number> {
  const row = await db.selectFrom('reviewers').select('id').where('name', '=', name).executeTakeFirst();
  if (!row) throw new AccessError(`no reviewer named ${JSON.stringify(name)} (pnpm users list shows them)`, 'not-found');
  return row.id;
}

/** Removes the account and its sessions (its decisions stay in the log under its name). */
export async function removeReviewer(db: Db, name: string): Promise<void> {
  const id = await idOf(db, name);
  await db.transaction().execute(async (tx) => {
    await tx.deleteFrom('sessions').where('reviewer_id', '=', id).execute();
    await tx.deleteFrom('reviewers').where('id', '=', id).execute();
  });
}

/** Sets a new password and ends the account's sessions. */
export async function setReviewerPassword(db: Db, name: string, password: string): Promise<void> {
  checkPassword(password);
  const id = await idOf(db, name);
  const hash = await hashPassword(password);
  await db.transaction().execute(async (tx) => {
    await tx.updateTable('reviewers').set({ password_hash: hash, password_changed_at: new Date().toISOString() }).where('id', '=', id).execute();
    await tx.deleteFrom('sessions').where('reviewer_id', '=', id).execute();
  });
}

export async function anyReviewers(db: Db): Promise<boolean> {
  return (await db.selectFrom('reviewers').select('id').limit(1).executeTakeFirst()) !== undefined;
}

/**
 * The account when the name and password match, else null. An unknown name is checked against a
 * dummy hash so that it takes as long as a wrong password (the answer does not tell names apart).
 */
export async function checkLogin(db: Db, name: string, password: string): Promise<{ id: number; name: string } | null> {
  const row = await db.selectFrom('reviewers').select(['id', 'name', 'password_hash']).where('name', '=', name).executeTakeFirst();
  const ok = await verifyPassword(password, row?.password_hash ?? (await dummyHash()));
  return row && ok ? { id: row.id, name: row.name } : null;
}
