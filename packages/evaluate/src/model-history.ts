// The history of the served model: every model ever promoted is kept in `<target>.history/<runId>/`
// (a copy of the served folder as promoted: weights, classifier.json, ood.json, parity.json, card)
// and every change of the model in service is one event in `<target>.history/history.json`.
// `pnpm rollback --to <runId>` puts any of them back in service; the swap is promote's (rename of a
// complete staged copy), so the served folder is never half-written, and the model taken out of
// service stays in model.prev and in the history.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { servedModelDir } from '@parts/cli';
import { exists, readJson, siblingTemp, writeJsonAtomic } from './fsutil';
import { MODEL_CARD_JSON, readModelCard, registryNote, swapIn, type ModelCard } from './promote';

export const HISTORY_JSON = 'history.json';
export const HISTORY_FORMAT = 'parts-model-history/1';

export interface HistoryEvent {
  at: string;
  action: 'promote' | 'rollback';
  /** The model in service after the event. */
  runId: string;
  /** The model in service before it (null: none). */
  previous: string | null;
  /** Why, for people (the promotion rule or the rollback asked for). */
  note?: string;
}

export interface ModelHistory {
  format: typeof HISTORY_FORMAT;
  events: HistoryEvent[];
}

export function historyDir(target: string): string {
  return `${path.resolve(target)}.history`;
}

export async function readHistory(target: string): Promise<ModelHistory> {
  const file = path.join(historyDir(target), HISTORY_JSON);
  if (!(await exists(file))) return { format: HISTORY_FORMAT, events: [] };
  const h = await readJson<ModelHistory>(file);
  if (h.format !== HISTORY_FORMAT || !Array.isArray(h.events)) throw new Error(`${file}: not a model history (format must be '${HISTORY_FORMAT}')`);
  return h;
}

/** Models kept in the history, each with its card (promotedAt, metrics), oldest promotion first. */
export async function listHistoryModels(target: string): Promise<{ runId: string; dir: string; card: ModelCard | null }[]> {
  const dir = historyDir(target);
  if (!(await exists(dir))) return [];
  const out = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    const d = path.join(dir, e.name);
    out.push({ runId: e.name, dir: d, card: await readModelCard(d).catch(() => null) });
  }
  return out.sort((a, b) => (a.card?.promotedAt ?? '').localeCompare(b.card?.promotedAt ?? '') || a.runId.localeCompare(b.runId));
}

/**
 * Records that `target` now serves the model of its card: keeps a copy of the folder in the history
 * (once per runId; staged and renamed) and appends the event.
 */
export async function recordServedModel(target: string, event: Omit<HistoryEvent, 'at' | 'runId'> & { at?: string }): Promise<HistoryEvent> {
  const card = await readModelCard(target);
  if (!card) throw new Error(`cannot record ${target} in the model history: it has no ${MODEL_CARD_JSON}`);
  const dir = historyDir(target);
  await fs.mkdir(dir, { recursive: true });
  const keep = path.join(dir, safeId(card.runId));
  if (!(await exists(keep))) {
    const staged = siblingTemp(keep);
    try {
      await fs.cp(target, staged, { recursive: true });
      await fs.rename(staged, keep);
    } catch (e) {
      await fs.rm(staged, { recursive: true, force: true });
      throw e;
    }
  }
  const history = await readHistory(target);
  const full: HistoryEvent = { at: event.at ?? new Date().toISOString(), action: event.action, runId: card.runId, previous: event.previous, ...(event.note ? { note: event.note } : {}) };
  history.events.push(full);
  await writeJsonAtomic(path.join(dir, HISTORY_JSON), history);
  return full;
}

/**
 * Puts the model `runId` from the history back in service at `target`. The current model moves to
 * model.prev (and is in the history already if it was promoted since the history exists; it is
 * added now otherwise).
 */
export async function rollbackTo(runId: string, opts: { target?: string; now?: Date; db?: string } = {}): Promise<{ message: string; card: ModelCard; previous: ModelCard | null }> {
  const target = path.resolve(opts.target ?? servedModelDir());
  const models = await listHistoryModels(target);
  const found = models.find((m) => m.runId === runId || m.runId === safeId(runId));
  if (!found) {
    const known = models.map((m) => m.runId);
    throw new Error(`no model '${runId}' in the history ${historyDir(target)}${known.length ? `; kept: ${known.join(', ')}` : ' (empty: nothing was promoted since the history exists)'}`);
  }
  const current = (await exists(target)) ? await readModelCard(target).catch(() => null) : null;
  if (current?.runId === found.runId) {
    // The registry may still name another model (a rollback there failed before): bring it in line.
    const registry = opts.db ? await registryNote(opts.db, target, { action: 'rollback', note: `pnpm rollback --to ${runId}` }) : '';
    return { message: `${found.runId} is already in service at ${target}${registry}`, card: current, previous: current };
  }
  if (current && !models.some((m) => m.runId === safeId(current.runId))) {
    await recordServedModel(target, { action: 'promote', previous: null, note: 'in service before the history was kept' });
  }
  const staged = siblingTemp(target);
  try {
    await fs.cp(found.dir, staged, { recursive: true });
    await swapIn(staged, target);
  } catch (e) {
    await fs.rm(staged, { recursive: true, force: true });
    throw e;
  }
  await recordServedModel(target, { action: 'rollback', previous: current?.runId ?? null, note: `pnpm rollback --to ${runId}`, at: opts.now?.toISOString() });
  const card = (await readModelCard(target))!;
  const registry = opts.db ? await registryNote(opts.db, target, { action: 'rollback', note: `pnpm rollback --to ${runId}` }) : '';
  return {
    message: `rolled back ${target} to ${card.runId} (promoted ${card.promotedAt})${current ? `; ${current.runId} kept in ${target}.prev and in the history` : ''}${registry}`,
    card,
    previous: current,
  };
}

/** A run id as a folder name (run ids are already safe; this guards against a hand-edited card). */
function safeId(runId: string): string {
  return runId.replace(/[^A-Za-z0-9._-]/g, '_');
}
