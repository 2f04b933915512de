// The model registry as the promote, rollback and retrain commands use it: open the shared
// database (migrations applied), do one thing, close it.
import type { Kysely } from 'kysely';
import { checkDatabaseUrl, openPostgresDatabase, redactUrl } from '../log/db';
import type { LogDatabase } from '../log/schema';
import { listPromotions, recordPromotion, type Promotion, type RecordPromotionOptions } from './model-registry';

export async function withRegistry<T>(url: string, fn: (db: Kysely<LogDatabase>) => Promise<T>): Promise<T> {
  checkDatabaseUrl(url);
  const { db } = await openPostgresDatabase(url, { poolSize: 2 });
  try {
    return await fn(db);
  } finally {
    await db.destroy();
  }
}

/**
 * Records that `dir` (the local served folder, just promoted or rolled back) is the model in
 * service in the registry at `url`. An error says that the local folder changed and the registry
 * did not, so the caller's message can tell the operator what to run again.
 */
export async function recordInRegistry(url: string, dir: string, o: RecordPromotionOptions): Promise<Promotion & { changed: boolean }> {
  try {
    return await withRegistry(url, (db) => recordPromotion(db, dir, o));
  } catch (e) {
    throw new Error(`${dir} now serves the new model, but the model registry at ${redactUrl(url)} was not updated (${(e as Error).message}); servers started with --db still serve the previous one`);
  }
}

export async function registryHistory(url: string): Promise<Promotion[]> {
  return withRegistry(url, listPromotions);
}
