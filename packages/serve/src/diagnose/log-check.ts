// The prediction log of `pnpm serve` (var/ beside the promoted model): whether its database opens
// and passes SQLite's integrity check, and how much it holds. A corrupt one is what `pnpm serve`
// would refuse to start on; the fix says how to recover.
import path from 'node:path';
import Database from 'better-sqlite3';
import { corruptMessage, DB_FILE, isCorruption } from '../log/db';
import type { DiagnoseProbes } from './probes';
import type { Check } from './types';

export async function checkPredictionLog(p: DiagnoseProbes, dataDir = path.join(path.dirname(p.modelDir), 'var')): Promise<Check> {
  const base = { id: 'log', title: 'prediction log' };
  const file = path.join(dataDir, DB_FILE);
  if (!(await p.exists(file))) {
    return { ...base, verdict: 'info', summary: `none yet (${file}): \`pnpm serve\` creates it (--no-log: off)`, details: { file, present: false } };
  }
  let db: Database.Database | null = null;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const check = String(db.pragma('quick_check', { simple: true }));
    if (check !== 'ok') throw Object.assign(new Error(check), { code: 'SQLITE_CORRUPT' });
    const count = (t: string) => {
      try {
        return Number((db!.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n);
      } catch {
        return 0; // not migrated yet
      }
    };
    const n = { predictions: count('predictions'), photos: count('photos'), decisions: count('decisions') };
    return {
      ...base,
      verdict: 'ok',
      summary: `${file}: opens, integrity ok; ${n.predictions} predictions, ${n.photos} photos, ${n.decisions} review decisions`,
      details: { file, present: true, ...n },
    };
  } catch (e) {
    const corrupt = isCorruption(e);
    return {
      ...base,
      verdict: 'warn',
      summary: corrupt ? `${file} is corrupt (${(e as Error).message}): \`pnpm serve\` will refuse to start on it` : `${file} cannot be read: ${(e as Error).message}`,
      fix: corrupt ? corruptMessage(file, (e as Error).message).replace(/^.*?Nothing was written to it\. /, '') : 'check the file and folder permissions, or start `pnpm serve --data-dir` elsewhere',
      details: { file, present: true, error: (e as Error).message },
    };
  } finally {
    db?.close();
  }
}
