// POST /api/predict: admission (503 when busy), multipart upload, decoding, batched prediction.
import type { RawImage } from '@parts/data';
import { decodeImage } from '@parts/data';
import type { Prediction } from '@parts/models';
import { decodeFailure, HttpError } from '../errors';
import { notReady } from '../respond';
import { readUploads } from '../upload';
import type { Handler } from './context';

export interface PredictResponse extends Prediction {
  model: { id: string; arch: string; mode: string };
  latencyMs: number;
  file?: string;
  timings: { decodeMs: number; queueMs: number; predictMs: number };
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
      const r = await engine.predict(images);
      return { engine, decodeMs, ...r };
    });
    const latencyMs = round(performance.now() - started);
    const { info } = results.engine;
    const out: PredictResponse[] = results.predictions.map((p, i) => ({
      label: p.label,
      probabilities: p.probabilities,
      model: { id: info.id, arch: info.arch, mode: info.mode },
      latencyMs,
      ...(uploads[i]!.filename ? { file: uploads[i]!.filename } : {}),
      timings: { decodeMs: round(results.decodeMs), queueMs: round(results.queueMs), predictMs: round(results.predictMs) },
    }));
    counters.served++;
    ctx.sendJson(req, res, 200, out.length === 1 ? out[0] : out);
  } finally {
    counters.active--;
  }
};
