// The review API over the prediction log: the queue, the stored photos and their Grad-CAM, the
// decisions (with undo and history), the reviewed set and the retrain job. State-changing requests
// pass checkStateChange (loopback or a key or login, same origin, custom header or CSRF token, JSON)
// and the rate limit.
import { promises as fsp } from 'node:fs';
import { decodeImage } from '@parts/data';
import { HttpError, decodeFailure } from '../errors';
import { JobBusyError } from '../log/jobs';
import { checkReviewAccess, checkStateChange, readJson } from '../log/guard';
import { isPhotoHash, MissingPhotoError, PHOTO_TYPES } from '../log/photo-store';
import type { PredictionLog } from '../log/prediction-log';
import { decide, decisionHistory, reviewedRecords, reviewerClasses, reviewQueue, ReviewError, undoDecision, type ReviewAction } from '../log/review-store';
import { notReady } from '../respond';
import type { Engine } from '../engine';
import { admit } from './admission';
import { reviewerOf } from '../auth/principal';
import type { Handler, HandlerContext } from './context';

function logOf(ctx: HandlerContext): PredictionLog & { db: NonNullable<PredictionLog['db']> } {
  const log = ctx.predictionLog;
  if (!log) throw new HttpError(404, 'log-off', 'the prediction log is off (serve --no-log): nothing to review');
  if (!log.db) throw new HttpError(503, 'log-unavailable', log.stats().lastError ?? 'the prediction log could not be opened');
  return log as PredictionLog & { db: NonNullable<PredictionLog['db']> };
}

function query(req: { url?: string }): URLSearchParams {
  return new URL(req.url ?? '/', 'http://localhost').searchParams;
}

function hashParam(req: { url?: string }): string {
  const h = query(req).get('hash');
  if (!isPhotoHash(h)) throw new HttpError(400, 'bad-hash', "query 'hash' must be a photo's sha256 (64 hex digits)");
  return h;
}

/** A stored photo's bytes (its row in the log's database); 404 when missing. */
async function readStored(log: ReturnType<typeof logOf>, hash: string, ext: string): Promise<Buffer> {
  try {
    return await log.photos.read(log.db, hash, ext);
  } catch (e) {
    if (e instanceof MissingPhotoError) throw new HttpError(404, 'not-found', e.message);
    throw e;
  }
}

async function asHttp<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof ReviewError) throw new HttpError(e.status, e.code, e.message);
    throw e;
  }
}

export const serveQueue: Handler = async (ctx, req, res) => {
  checkReviewAccess(req);
  const log = logOf(ctx);
  const raw = query(req).get('limit');
  const limit = raw === null ? 30 : Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw new HttpError(400, 'bad-limit', "query 'limit' must be an integer from 1 to 200");
  const q = await reviewQueue(log.db, log.photos, { limit });
  const labels = [...(ctx.host.current?.info.labels ?? [])];
  const extra = (await reviewerClasses(log.db)).filter((l) => !labels.includes(l));
  ctx.sendJson(req, res, 200, { ...q, labels, newClasses: extra, log: log.stats() });
};

export const servePhoto: Handler = async (ctx, req, res) => {
  checkReviewAccess(req);
  const log = logOf(ctx);
  const hash = hashParam(req);
  const row = await log.db.selectFrom('photos').select(['ext']).where('hash', '=', hash).executeTakeFirst();
  if (!row) throw new HttpError(404, 'not-found', `no stored photo ${hash}`);
  const bytes = await readStored(log, hash, row.ext);
  res.writeHead(200, {
    'Content-Type': PHOTO_TYPES[row.ext] ?? 'application/octet-stream',
    'Content-Length': bytes.length,
    'Cache-Control': 'private, max-age=31536000, immutable',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : bytes);
};

/** Grad-CAM of a stored photo by the model now in service (which may be newer than the one that answered it). */
export const serveExplanation: Handler = async (ctx, req, res) => {
  checkReviewAccess(req);
  // Grad-CAM is costly: within the review rate limit.
  ctx.reviewLimiter.take('review', 'review requests');
  const log = logOf(ctx);
  const hash = hashParam(req);
  const row = await log.db.selectFrom('photos').select(['ext']).where('hash', '=', hash).executeTakeFirst();
  if (!row) throw new HttpError(404, 'not-found', `no stored photo ${hash}`);
  const bytes = await readStored(log, hash, row.ext);
  const { host, limits } = ctx;
  if (!host.ready) throw notReady(host.notReadyReason);
  // Model work like a prediction: within the same admission places (503 busy when all are taken).
  const release = admit(ctx);
  const explain = async (engine: Engine) => {
    let image;
    try {
      image = await decodeImage(bytes, { size: engine.info.imgSize, fit: engine.info.meta.fit, maxPixels: limits.maxPixels, name: `stored photo ${hash}` });
    } catch (e) {
      throw decodeFailure(e);
    }
    const r = await engine.predict([image], { bytes: [bytes], maxSide: limits.explainMaxSide, maxPixels: limits.maxPixels });
    return { model: engine.info.id, prediction: r.predictions[0]!, explanation: r.explanations?.[0] ?? null };
  };
  let out: Awaited<ReturnType<typeof explain>>;
  try {
    out = await host.use(explain);
  } finally {
    release();
  }
  ctx.sendJson(req, res, 200, { hash, model: out.model, top: out.prediction.top, explanation: out.explanation });
};

export const serveHistory: Handler = async (ctx, req, res) => {
  checkReviewAccess(req);
  const log = logOf(ctx);
  const hash = hashParam(req);
  ctx.sendJson(req, res, 200, { hash, decisions: await asHttp(decisionHistory(log.db, hash)) });
};

export const serveReviewed: Handler = async (ctx, req, res) => {
  checkReviewAccess(req);
  const log = logOf(ctx);
  ctx.sendJson(req, res, 200, { photos: await reviewedRecords(log.db) });
};

export const postDecision: Handler = async (ctx, req, res) => {
  checkStateChange(req);
  ctx.reviewLimiter.take('review', 'review requests');
  const log = logOf(ctx);
  const body = await readJson(req);
  const ids = body.ids;
  if (!Array.isArray(ids)) throw new HttpError(400, 'bad-ids', "field 'ids' must be an array of prediction ids");
  const decisions = await asHttp(
    decide(log.db, {
      ids: ids as number[],
      action: body.action as ReviewAction,
      label: typeof body.label === 'string' ? body.label : undefined,
      reviewer: reviewerOf(req, body.reviewer),
    }),
  );
  ctx.sendJson(req, res, 200, { batch: decisions[0]!.batch, decisions });
};

export const postUndo: Handler = async (ctx, req, res) => {
  checkStateChange(req);
  ctx.reviewLimiter.take('review', 'review requests');
  const log = logOf(ctx);
  const body = await readJson(req);
  const decisions = await asHttp(undoDecision(log.db, body.batch as string, reviewerOf(req, body.reviewer)));
  ctx.sendJson(req, res, 200, { batch: body.batch, decisions });
};

export const serveRetrain: Handler = async (ctx, req, res) => {
  checkReviewAccess(req);
  logOf(ctx);
  ctx.sendJson(req, res, 200, { job: await ctx.retrain!.current() });
};

export const postRetrain: Handler = async (ctx, req, res) => {
  checkStateChange(req);
  ctx.reviewLimiter.take('review', 'review requests');
  logOf(ctx);
  await readJson(req);
  try {
    const job = await ctx.retrain!.start();
    ctx.sendJson(req, res, 202, { job });
  } catch (e) {
    if (e instanceof JobBusyError) throw new HttpError(409, 'job-running', e.message);
    throw e;
  }
};
