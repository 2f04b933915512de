// POST /api/predict: admission (503 when busy), multipart upload, decoding, batched prediction.
import type { RawImage } from '@parts/data';
import { decodeImage } from '@parts/data';
import type { OodDecision } from '@parts/models';
import type { ServedExplanation } from '../model-work';
import { decodeFailure, HttpError } from '../errors';
import { notReady } from '../respond';
import { readUploads } from '../upload';
import type { Handler } from './context';

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
  if (counters.active >= ctx.admitLimit()) {
    counters.rejectedBusy++;
    throw new HttpError(503, 'busy', `server is busy (${counters.active} requests in progress, queue limit ${limits.queueLimit}); retry shortly`, {
      'Retry-After': '1',
    });
  }
  counters.active++;
  try {
    const uploads = await readUploads(req, { maxBytes: limits.maxBytes, maxFiles: limits.maxFiles });
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
    counters.served++;
    ctx.answered(out);
    ctx.sendJson(req, res, 200, out.length === 1 ? out[0] : out);
  } finally {
    counters.active--;
  }
};
