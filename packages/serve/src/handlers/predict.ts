// POST /api/predict: admission (503 when busy), multipart upload, decoding, batched prediction, and the
// record of each answered photo in the prediction log (waited for at most the log's answerWaitMs, never failing the answer).
import type { RawImage } from '@parts/data';
import { decodeImage } from '@parts/data';
import type { OodDecision } from '@parts/models';
import type { ServedExplanation } from '../model-work';
import { decodeFailure, HttpError } from '../errors';
import { notReady } from '../respond';
import { readUploads } from '../upload';
import { admit } from './admission';
import type { Handler, HandlerContext } from './context';
import type { IncomingMessage } from 'node:http';

const MAX_SOURCE = 128;

/** The camera or line id of a request: form field `source`, else header X-Source; null when neither. */
export function requestSource(req: IncomingMessage, fields: Record<string, string>): string | null {
  const header = req.headers['x-source'];
  const raw = fields.source ?? (Array.isArray(header) ? header[0] : header);
  if (raw === undefined) return null;
  const v = raw.trim();
  if (v === '') return null;
  if (v.length > MAX_SOURCE || !/^[\p{L}\p{N} ._:\/@#-]+$/u.test(v)) {
    throw new HttpError(400, 'bad-source', `source (form field 'source' or header X-Source) must be at most ${MAX_SOURCE} letters, digits, spaces or . _ : / @ # -`);
  }
  return v;
}

/**
 * Records the answered photos in the prediction log, waiting at most its answerWaitMs (normally the
 * commit takes a few ms; past it the answer goes and the record follows); a failure is
 * counted by the log and never reaches the client. The ids when recorded in time.
 */
async function logAnswers(ctx: HandlerContext, entries: Parameters<NonNullable<HandlerContext['predictionLog']>['record']>[0]): Promise<number[] | null> {
  const log = ctx.predictionLog;
  if (!log) return null;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((r) => {
    timer = setTimeout(() => r(null), log.answerWaitMs);
  });
  try {
    return await Promise.race([log.record(entries), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** One photo's answer: the prediction contract (OodDecision) plus where it came from and how long it took. */
export interface PredictResponse extends OodDecision {
  model: { id: string; arch: string; mode: string };
  latencyMs: number;
  file?: string;
  timings: { decodeMs: number; queueMs: number; predictMs: number };
  /** With `?explain=1`: Grad-CAM of `top` blended on the photo (PNG data URL, longest side at most explainMaxSide). */
  explanation?: ServedExplanation;
}

/** `?explain=1` (or `true`) asks for a Grad-CAM overlay per photo. */
export function wantsExplanation(url: string | undefined): boolean {
  const v = new URL(url ?? '/', 'http://localhost').searchParams.get('explain');
  return v === '1' || v === 'true';
}

const round = (ms: number) => Math.round(ms * 100) / 100;

export const predict: Handler = async (ctx, req, res, started) => {
  const { host, limits, counters } = ctx;
  if (!host.ready) throw notReady(host.notReadyReason);
  // Refused before the body is read; Engine.predict checks again after decoding.
  const down = host.current?.unavailable();
  if (down) throw down;
  const release = admit(ctx);
  try {
    const fields: Record<string, string> = {};
    const uploads = await readUploads(req, { maxBytes: limits.maxBytes, maxFiles: limits.maxFiles }, fields);
    const source = requestSource(req, fields);
    const results = await host.use(async (engine) => {
      const t0 = performance.now();
      const images: RawImage[] = [];
      // Sequential on purpose: a bad file fails the request before later ones are decoded.
      for (const u of uploads) {
        try {
          images.push(
            await decodeImage(u.data, { size: engine.info.imgSize, fit: engine.info.meta.fit, maxPixels: limits.maxPixels, name: u.filename ? `'${u.filename}'` : u.label }),
          );
        } catch (e) {
          throw decodeFailure(e);
        }
      }
      const decodeMs = performance.now() - t0;
      const explain = wantsExplanation(req.url) ? { bytes: uploads.map((u) => u.data), maxSide: limits.explainMaxSide, maxPixels: limits.maxPixels } : undefined;
      const r = await engine.predict(images, explain);
      return { engine, decodeMs, ...r };
    });
    const latencyMs = round(performance.now() - started);
    const { info } = results.engine;
    const out: PredictResponse[] = results.predictions.map((p, i) => ({
      label: p.label,
      unknown: p.unknown,
      top: p.top,
      probability: p.probability,
      probabilities: p.probabilities,
      ood: p.ood,
      model: { id: info.id, arch: info.arch, mode: info.mode },
      latencyMs,
      ...(uploads[i]!.filename ? { file: uploads[i]!.filename } : {}),
      timings: { decodeMs: round(results.decodeMs), queueMs: round(results.queueMs), predictMs: round(results.predictMs) },
      ...(results.explanations ? { explanation: results.explanations[i]! } : {}),
    }));
    // The record is committed before the answer leaves (so an answered photo survives a crash),
    // unless logging is slow or failing: then the answer goes anyway.
    const ids = await logAnswers(
      ctx,
      out.map((o, i) => {
        const { model: _m, latencyMs: _l, file: _f, timings: _t, explanation: _e, ...decision } = o;
        return { bytes: uploads[i]!.data, source, fileName: uploads[i]!.filename, modelId: info.id, decision, latencyMs };
      }),
    );
    counters.served++;
    ctx.answered(out);
    ctx.sendJson(req, res, 200, out.length === 1 ? out[0] : out, ids ? { 'X-Prediction-Log': ids.join(',') } : {});
  } finally {
    release();
  }
};
