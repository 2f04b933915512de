// The review queue and the reviewers' decisions over the prediction log.
//
// Queue order: photos without a standing decision, each once (its latest prediction), unknown
// answers first, then the smallest margins (top probability minus the runner-up's); every
// SAMPLE_EVERY-th place goes to a confident answer drawn at random (stable: ordered by a hash
// of the photo), because confident mistakes exist and are never the smallest margins.
// Near-identical photos from the same source (perceptual signature of @parts/data, similarity
// >= GROUP_SIMILARITY) form one group, placed where its first member is, so one decision labels all.
//
// Decisions are never overwritten: each is a row with who and when; the standing decision of a
// photo is its latest one not undone (so of two reviewers the later wins and both stay in the
// history). Undo marks a whole batch (one action on one group) as undone.
import { createHash, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { normalizeSignatures, perceptualSignature, signatureSimilarity } from '@parts/data';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DB_FILE, openLogDatabase } from './db';
import { isPhotoHash, PhotoStore } from './photo-store';
import type { LogDatabase } from './schema';

type Signature = Float32Array;

/** One confident answer in every SAMPLE_EVERY places of the queue: a share of 1/SAMPLE_EVERY. */
export const SAMPLE_EVERY = 10;
export const SAMPLE_SHARE = 1 / SAMPLE_EVERY;
/** A known answer at least this far ahead of the runner-up is confident. */
export const CONFIDENT_MARGIN = 0.8;
/** Same source and at least this similar: one group (re-encoded or resized copies score >= 0.92). */
export const GROUP_SIMILARITY = 0.9;
/** Photos without a decision considered for one queue (the most recent ones). */
export const QUEUE_WINDOW = 400;

export const DECISION_LABELS = ['not-a-part', 'bad-photo'] as const;
export type ReviewAction = 'confirm' | 'correct' | 'not-a-part' | 'bad-photo' | 'new-class' | 'capture';
export const REVIEW_ACTIONS: readonly ReviewAction[] = ['confirm', 'correct', 'not-a-part', 'bad-photo', 'new-class', 'capture'];
const CLASS_NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/i;

export class ReviewError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface QueueItem {
  id: number;
  hash: string;
  source: string | null;
  fileName: string | null;
  loggedAt: string;
  modelId: string;
  label: string | null;
  unknown: boolean;
  top: string;
  probability: number;
  margin: number;
  probabilities: Record<string, number>;
  ood: unknown;
  latencyMs: number;
}

export interface QueueGroup {
  /** Why it is in the queue: 'unknown' answer, 'uncertain' (small margin) or a random confident 'sample'. */
  reason: 'unknown' | 'uncertain' | 'sample';
  items: QueueItem[];
}

export interface ReviewQueue {
  groups: QueueGroup[];
  /** Photos waiting for a decision (all of them, not only those listed). */
  pending: number;
  sampleShare: number;
  confidentMargin: number;
}

type PredictionRow = LogDatabase['predictions'] extends infer T ? { [K in keyof T]: T[K] extends import('kysely').Generated<infer U> ? U : T[K] } : never;

function toItem(r: PredictionRow): QueueItem {
  return {
    id: Number(r.id),
    hash: r.photo_hash,
    source: r.source,
    fileName: r.file_name,
    loggedAt: r.logged_at,
    modelId: r.model_id,
    label: r.label,
    unknown: Number(r.unknown) === 1,
    top: r.top,
    probability: r.probability,
    margin: r.margin,
    probabilities: JSON.parse(r.probabilities) as Record<string, number>,
    ood: r.ood ? JSON.parse(r.ood) : null,
    latencyMs: r.latency_ms,
  };
}

/** Hashes of photos with a standing (not undone) decision. */
function decided(db: Kysely<LogDatabase>) {
  return db.selectFrom('decisions').select('photo_hash').where('undone_at', 'is', null);
}

/** The photo store of a log: a PhotoStore, or the data folder of its cache. */
export type PhotosOf = PhotoStore | string;

function storeOf(p: PhotosOf): PhotoStore {
  return typeof p === 'string' ? new PhotoStore(p) : p;
}

function sampleKey(hash: string): string {
  return createHash('sha256').update(`sample:${hash}`).digest('hex');
}

async function signatures(db: Kysely<LogDatabase>, photos: PhotoStore, items: QueueItem[]): Promise<Map<string, Signature | null>> {
  const hashes = [...new Set(items.map((i) => i.hash))];
  const out = new Map<string, Signature | null>();
  if (hashes.length === 0) return out;
  const rows = await db.selectFrom('photos').select(['hash', 'ext', 'signature']).where('hash', 'in', hashes).execute();
  for (const r of rows) {
    if (r.signature) {
      const b = Buffer.from(r.signature);
      out.set(r.hash, new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
      continue;
    }
    try {
      const s = await perceptualSignature(await photos.read(db, r.hash, r.ext));
      out.set(r.hash, s);
      await db.updateTable('photos').set({ signature: Buffer.from(s.buffer, s.byteOffset, s.byteLength) }).where('hash', '=', r.hash).execute();
    } catch {
      out.set(r.hash, null); // undecodable photo: its own group
    }
  }
  return out;
}

/** The queue: see the file comment for the order, the sample and the grouping. */
export async function reviewQueue(db: Kysely<LogDatabase>, photos: PhotosOf, o: { limit?: number } = {}): Promise<ReviewQueue> {
  const limit = o.limit ?? 50;
  const pendingRow = await db
    .selectFrom('predictions')
    .select((eb) => eb.fn.count<number>('photo_hash').distinct().as('n'))
    .where('photo_hash', 'not in', decided(db))
    .executeTakeFirstOrThrow();
  // The latest prediction of each undecided photo, most recent first.
  const latest = db.selectFrom('predictions').select((eb) => eb.fn.max('id').as('id')).where('photo_hash', 'not in', decided(db)).groupBy('photo_hash');
  const rows = await db.selectFrom('predictions').selectAll().where('id', 'in', latest).orderBy('id', 'desc').limit(QUEUE_WINDOW).execute();
  const items = rows.map((r) => toItem(r as PredictionRow));
  const byMargin = (a: QueueItem, b: QueueItem) => a.margin - b.margin || b.id - a.id;
  const unknown = items.filter((i) => i.unknown).sort(byMargin);
  const known = items.filter((i) => !i.unknown).sort(byMargin);
  const uncertain = known.filter((i) => i.margin < CONFIDENT_MARGIN);
  const confident = known.filter((i) => i.margin >= CONFIDENT_MARGIN).sort((a, b) => (sampleKey(a.hash) < sampleKey(b.hash) ? -1 : 1));
  const primary = [...unknown, ...uncertain];
  const ordered: Array<{ item: QueueItem; reason: QueueGroup['reason'] }> = [];
  while (primary.length || confident.length) {
    const sampleTurn = (ordered.length + 1) % SAMPLE_EVERY === 0;
    if ((sampleTurn && confident.length) || !primary.length) ordered.push({ item: confident.shift()!, reason: 'sample' });
    else {
      const item = primary.shift()!;
      ordered.push({ item, reason: item.unknown ? 'unknown' : 'uncertain' });
    }
  }
  // Group among the first places only (pairwise similarity is quadratic).
  const head = ordered.slice(0, Math.max(limit * 4, 100));
  const raw = await signatures(db, storeOf(photos), head.map((h) => h.item));
  const known2 = [...raw.entries()].filter((e): e is [string, Signature] => e[1] !== null);
  const norm = new Map(normalizeSignatures(known2.map((e) => e[1])).map((s, i) => [known2[i]![0], s] as const));
  const taken = new Set<number>();
  const groups: QueueGroup[] = [];
  for (let i = 0; i < head.length && groups.length < limit; i++) {
    const { item, reason } = head[i]!;
    if (taken.has(item.id)) continue;
    taken.add(item.id);
    const g: QueueGroup = { reason, items: [item] };
    const s = norm.get(item.hash);
    if (s) {
      for (let j = i + 1; j < head.length; j++) {
        const other = head[j]!.item;
        if (taken.has(other.id) || other.source !== item.source) continue;
        const t = norm.get(other.hash);
        if (t && signatureSimilarity(s, t) >= GROUP_SIMILARITY) {
          g.items.push(other);
          taken.add(other.id);
        }
      }
    }
    groups.push(g);
  }
  return { groups, pending: Number(pendingRow.n), sampleShare: SAMPLE_SHARE, confidentMargin: CONFIDENT_MARGIN };
}

export interface DecisionInput {
  /** Prediction ids (one group); each one's photo gets the decision. */
  ids: number[];
  action: ReviewAction;
  /** The class for 'correct' / 'new-class' / 'capture'; ignored for the others. */
  label?: string;
  reviewer: string;
}

export interface DecisionRecord {
  id: number;
  batch: string;
  hash: string;
  predictionId: number | null;
  action: string;
  label: string;
  reviewer: string;
  decidedAt: string;
  undoneAt: string | null;
  undoneBy: string | null;
}

function toDecision(r: { id: number; batch: string; photo_hash: string; prediction_id: number | null; action: string; label: string; reviewer: string; decided_at: string; undone_at: string | null; undone_by: string | null }): DecisionRecord {
  return {
    id: Number(r.id),
    batch: r.batch,
    hash: r.photo_hash,
    predictionId: r.prediction_id === null ? null : Number(r.prediction_id),
    action: r.action,
    label: r.label,
    reviewer: r.reviewer,
    decidedAt: r.decided_at,
    undoneAt: r.undone_at,
    undoneBy: r.undone_by,
  };
}

export function checkReviewer(reviewer: unknown): string {
  if (typeof reviewer !== 'string' || !/^[\p{L}\p{N} ._@-]{1,64}$/u.test(reviewer.trim()) || reviewer.trim() === '') {
    throw new ReviewError(400, 'bad-reviewer', "field 'reviewer' must be a name of 1 to 64 letters, digits, spaces or . _ @ -");
  }
  return reviewer.trim();
}

/** The label a decision gives, or a 400 naming what is wrong. */
function decisionLabel(action: ReviewAction, label: string | undefined, predictedTop: string): string {
  switch (action) {
    case 'confirm':
      return predictedTop;
    case 'not-a-part':
    case 'bad-photo':
      return action;
    case 'correct':
    case 'new-class':
    case 'capture':
      if (typeof label !== 'string' || !CLASS_NAME.test(label)) {
        throw new ReviewError(400, 'bad-label', "field 'label' must be a class name: 1 to 40 letters, digits, '_' or '-', starting with a letter or digit");
      }
      if ((DECISION_LABELS as readonly string[]).includes(label)) throw new ReviewError(400, 'bad-label', `'${label}' is reserved: use the action '${label}'`);
      return label;
  }
}

/** Records one decision for every listed prediction's photo; 404 when any id does not exist. */
export async function decide(db: Kysely<LogDatabase>, input: DecisionInput, now = new Date()): Promise<DecisionRecord[]> {
  if (!REVIEW_ACTIONS.includes(input.action)) throw new ReviewError(400, 'bad-action', `field 'action' must be one of ${REVIEW_ACTIONS.join(', ')}`);
  const reviewer = checkReviewer(input.reviewer);
  const ids = [...new Set(input.ids)];
  if (ids.length === 0 || ids.length > 500 || !ids.every((i) => Number.isSafeInteger(i) && i > 0)) {
    throw new ReviewError(400, 'bad-ids', "field 'ids' must list 1 to 500 prediction ids (positive integers)");
  }
  const batch = randomUUID();
  const at = now.toISOString();
  return db.transaction().execute(async (tx) => {
    const preds = await tx.selectFrom('predictions').select(['id', 'photo_hash', 'top']).where('id', 'in', ids).execute();
    if (preds.length !== ids.length) {
      const found = new Set(preds.map((p) => Number(p.id)));
      throw new ReviewError(404, 'not-found', `no logged prediction with id ${ids.filter((i) => !found.has(i)).join(', ')}`);
    }
    const out: DecisionRecord[] = [];
    for (const p of preds) {
      const label = decisionLabel(input.action, input.label, p.top);
      const r = await tx
        .insertInto('decisions')
        .values({ batch, photo_hash: p.photo_hash, prediction_id: Number(p.id), action: input.action, label, reviewer, decided_at: at, undone_at: null, undone_by: null })
        .returningAll()
        .executeTakeFirstOrThrow();
      out.push(toDecision(r));
    }
    return out;
  });
}

/** Undoes every decision of a batch; 404 for an unknown batch, 409 when it was undone already. */
export async function undoDecision(db: Kysely<LogDatabase>, batch: string, reviewer: string, now = new Date()): Promise<DecisionRecord[]> {
  const who = checkReviewer(reviewer);
  if (typeof batch !== 'string' || batch.length > 64) throw new ReviewError(400, 'bad-batch', "field 'batch' must be a decision batch id");
  return db.transaction().execute(async (tx) => {
    const rows = await tx.selectFrom('decisions').selectAll().where('batch', '=', batch).execute();
    if (rows.length === 0) throw new ReviewError(404, 'not-found', `no decision batch ${batch}`);
    if (rows.every((r) => r.undone_at !== null)) throw new ReviewError(409, 'already-undone', `decision batch ${batch} was undone already`);
    await tx.updateTable('decisions').set({ undone_at: now.toISOString(), undone_by: who }).where('batch', '=', batch).where('undone_at', 'is', null).execute();
    const after = await tx.selectFrom('decisions').selectAll().where('batch', '=', batch).execute();
    return after.map(toDecision);
  });
}

/** Every decision ever made on a photo, oldest first (undone ones included). */
export async function decisionHistory(db: Kysely<LogDatabase>, hash: string): Promise<DecisionRecord[]> {
  if (!isPhotoHash(hash)) throw new ReviewError(400, 'bad-hash', "'hash' must be a photo's sha256 (64 hex digits)");
  const rows = await db.selectFrom('decisions').selectAll().where('photo_hash', '=', hash).orderBy('decided_at').orderBy('id').execute();
  return rows.map(toDecision);
}

export interface ReviewedPhoto {
  hash: string;
  /** Absolute path of the stored photo (of its copy in the local cache when photos live in the database). */
  file: string;
  /** A class name, or 'not-a-part' / 'bad-photo'. */
  label: string;
  reviewer: string;
  /** ISO time of the standing decision. */
  reviewedAt: string;
  /** Source of the photo's latest logged prediction (null when none was given). */
  source: string | null;
  /** When that prediction was logged (ISO). */
  loggedAt: string;
  /** The model that answered it. */
  modelId: string;
}

/** A reviewed photo's standing decision, without a file of it (what the review API lists). */
export type ReviewedRecord = Omit<ReviewedPhoto, 'file'>;

/** The standing decision of every reviewed photo, by hash (the latest not undone), each with a file of it. */
export async function reviewedPhotos(db: Kysely<LogDatabase>, photosOf: PhotosOf): Promise<ReviewedPhoto[]> {
  const photos = storeOf(photosOf);
  const out: ReviewedPhoto[] = [];
  for (const { ext, ...r } of await standingDecisions(db)) out.push({ ...r, file: await photos.localFile(db, r.hash, ext) });
  return out;
}

/** The standing decision of every reviewed photo, by hash, without writing files. */
export async function reviewedRecords(db: Kysely<LogDatabase>): Promise<ReviewedRecord[]> {
  return (await standingDecisions(db)).map(({ ext: _ext, ...r }) => r);
}

async function standingDecisions(db: Kysely<LogDatabase>): Promise<(ReviewedRecord & { ext: string })[]> {
  const rows = await db
    .selectFrom('decisions as d')
    .innerJoin('photos as p', 'p.hash', 'd.photo_hash')
    .select(['d.id', 'd.photo_hash', 'd.label', 'd.reviewer', 'd.decided_at', 'p.ext'])
    .where('d.undone_at', 'is', null)
    .orderBy('d.decided_at')
    .orderBy('d.id')
    .execute();
  const standing = new Map<string, (typeof rows)[number]>();
  for (const r of rows) standing.set(r.photo_hash, r); // later rows win
  const hashes = [...standing.keys()];
  const lastPred = new Map<string, { source: string | null; logged_at: string; model_id: string }>();
  for (let i = 0; i < hashes.length; i += 500) {
    const chunk = hashes.slice(i, i + 500);
    const preds = await db
      .selectFrom('predictions')
      .select(['photo_hash', 'source', 'logged_at', 'model_id'])
      .where('id', 'in', db.selectFrom('predictions').select((eb) => eb.fn.max('id').as('id')).where('photo_hash', 'in', chunk).groupBy('photo_hash'))
      .execute();
    for (const p of preds) lastPred.set(p.photo_hash, p);
  }
  const out: (ReviewedRecord & { ext: string })[] = [];
  for (const r of [...standing.values()].sort((a, b) => (a.photo_hash < b.photo_hash ? -1 : 1))) {
    const p = lastPred.get(r.photo_hash);
    out.push({
        hash: r.photo_hash,
        ext: r.ext,
        label: r.label,
        reviewer: r.reviewer,
        reviewedAt: r.decided_at,
        source: p?.source ?? null,
        loggedAt: p?.logged_at ?? r.decided_at,
        modelId: p?.model_id ?? '',
    });
  }
  return out;
}

/**
 * The reviewed photos of a data folder (the prediction log of `pnpm serve --data-dir`), for
 * building a dataset version: one record per photo with its standing label. A folder without a
 * log gives an empty list. With `o.db` (a postgres:// URL) the log is that database. The photos are
 * copied from the database into the data folder's photos/ (the local cache) so that each has a file.
 */
export async function listReviewedPhotos(dataDir: string, o: { db?: string } = {}): Promise<ReviewedPhoto[]> {
  if (!o.db && !existsSync(path.join(dataDir, DB_FILE))) return [];
  const { db } = await openLogDatabase(dataDir, { url: o.db, poolSize: 2 });
  try {
    return await reviewedPhotos(db, new PhotoStore(dataDir));
  } finally {
    await db.destroy();
  }
}

/** The labels reviewers have used so far that are not the model's (new classes), for the page. */
export async function reviewerClasses(db: Kysely<LogDatabase>): Promise<string[]> {
  const rows = await db
    .selectFrom('decisions')
    .select('label')
    .distinct()
    .where('undone_at', 'is', null)
    .where('label', 'not in', [...DECISION_LABELS])
    .execute();
  return rows.map((r) => r.label).sort();
}
