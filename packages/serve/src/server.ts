import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { initBackend, type BackendName } from '@parts/backend';
import { decodeImage, type RawImage } from '@parts/data';
import type { Prediction } from '@parts/models';
import { decodeFailure, HttpError, type ErrorBody } from './errors';
import { ModelHost, type SwapEvent } from './model-host';
import { resolveModelDir, type ModelInfo } from './model-source';
import { renderPage } from './page';
import { readUploads } from './upload';
import type { Engine, EngineStats, RestartPolicy } from './engine';

export interface ServerOptions {
  /** A model folder (classifier.json + model.json) or a run folder holding model/. */
  modelDir: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Largest request body in bytes (all files together). Default 10 MiB. */
  maxBytes?: number;
  /** Largest image in pixels (width × height), checked from the header. Default 50e6. */
  maxPixels?: number;
  /** Most files in one multipart request. Default 16. */
  maxFiles?: number;
  /** Requests that may wait beyond the ones being predicted; past it → 503. Default 16. */
  queueLimit?: number;
  /** Model worker threads; 0 = predict on the main thread. Default: defaultWorkers(). */
  workers?: number;
  /** TensorFlow.js backend of each model instance. Default 'auto'. */
  backend?: BackendName;
  /** Most images one predict call batches together from the queue. Default 8. */
  maxBatch?: number;
  /**
   * Replacing a model worker thread that died: back-off and how many failures in a row
   * before the slot is given up. Default { maxFailures: 5, initialDelayMs: 500, maxDelayMs: 10000 }.
   */
  workerRestart?: Partial<RestartPolicy>;
  /** Poll interval of the model folder for hot swap, ms; 0 = no watching. Default 1000. */
  watchIntervalMs?: number;
  /** How long close() waits for requests in flight before cutting connections. Default 30 s. */
  shutdownTimeoutMs?: number;
  log?: (msg: string) => void;
}

export interface ServerStats {
  /** Requests admitted and not yet answered (reading, decoding, queued or predicting). */
  active: number;
  /** Admitted requests allowed at once: slots + queueLimit. */
  admitLimit: number;
  rejectedBusy: number;
  served: number;
  engine: EngineStats | null;
}

export interface PartsServer {
  url: string;
  host: string;
  port: number;
  /** The model now answering. */
  model(): ModelInfo | null;
  /** Called after each hot swap. */
  onSwap(fn: (e: SwapEvent) => void): void;
  stats(): Promise<ServerStats>;
  /** Graceful: stop accepting, finish requests in flight, free the model(s). */
  close(): Promise<void>;
}

export interface PredictResponse extends Prediction {
  model: { id: string; arch: string; mode: string };
  latencyMs: number;
  file?: string;
  timings: { decodeMs: number; queueMs: number; predictMs: number };
}

/** One model worker on a 2-core machine (the other core serves HTTP and decodes); cores-1 up to 4 above. */
export function defaultWorkers(): number {
  const cores = os.availableParallelism();
  return cores <= 2 ? 1 : Math.min(4, cores - 1);
}

const JSON_TYPE = 'application/json; charset=utf-8';
const round = (ms: number) => Math.round(ms * 100) / 100;

/** Whether the request carries a body at all (GETs usually do not). */
function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && Number(len) > 0);
}

interface Route {
  methods: string[];
  handle(req: IncomingMessage, res: ServerResponse, started: number): Promise<void> | void;
}

export async function createServer(opts: ServerOptions): Promise<PartsServer> {
  const log = opts.log ?? ((m: string) => console.error(m));
  const maxBytes = opts.maxBytes ?? 10 * 1024 * 1024;
  const maxPixels = opts.maxPixels ?? 50e6;
  const maxFiles = opts.maxFiles ?? 16;
  const queueLimit = opts.queueLimit ?? 16;
  const workers = opts.workers ?? defaultWorkers();
  const backend = opts.backend ?? 'auto';
  for (const [name, v] of Object.entries({ maxBytes, maxPixels, maxFiles })) {
    if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`${name} must be a positive number, got ${v}`);
  }
  if (!(Number.isInteger(queueLimit) && queueLimit >= 0)) throw new RangeError(`queueLimit must be an integer >= 0, got ${queueLimit}`);
  if (!(Number.isInteger(workers) && workers >= 0)) throw new RangeError(`workers must be an integer >= 0, got ${workers}`);

  const modelDir = await resolveModelDir(opts.modelDir);
  if (workers === 0) await initBackend(backend, log);
  const host = new ModelHost({
    modelDir,
    workers,
    backend,
    maxBatch: opts.maxBatch ?? 8,
    restart: opts.workerRestart,
    watchIntervalMs: opts.watchIntervalMs ?? 1000,
    log,
  });

  let active = 0;
  let rejectedBusy = 0;
  let served = 0;
  let closing = false;
  const admitLimit = () => (host.current?.capacity ?? 0) + queueLimit;

  function sendJson(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    const text = JSON.stringify(body);
    // Answering before the body was read (limits, 503): close the connection instead of
    // keeping it alive, and drain what the client still sends for a moment so it reads our
    // answer rather than a reset.
    const unread = hasBody(req) && !req.complete;
    res.writeHead(status, {
      'Content-Type': JSON_TYPE,
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store',
      ...(unread || closing ? { Connection: 'close' } : {}),
      ...headers,
    });
    res.end(req.method === 'HEAD' ? undefined : text);
    if (unread) {
      req.resume();
      const timer = setTimeout(() => req.socket.destroy(), 1000);
      timer.unref();
      req.socket.once('close', () => clearTimeout(timer));
    }
  }

  function sendError(req: IncomingMessage, res: ServerResponse, err: unknown) {
    const e =
      err instanceof HttpError
        ? err
        : new HttpError(500, 'internal', `internal error: ${(err as Error)?.message ?? String(err)}`);
    if (e.status >= 500 && e.status !== 503) log(`${req.method} ${req.url} -> ${e.status}: ${e.message}`);
    const body: ErrorBody = { status: e.status, code: e.code, error: e.message };
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendJson(req, res, e.status, body, e.headers);
  }

  async function predict(req: IncomingMessage, res: ServerResponse, started: number): Promise<void> {
    if (!host.ready) throw new HttpError(503, 'not-ready', 'no model is loaded yet', { 'Retry-After': '1' });
    // Refused before the body is read; Engine.predict checks again after decoding.
    const down = host.current?.unavailable();
    if (down) throw down;
    if (active >= admitLimit()) {
      rejectedBusy++;
      throw new HttpError(503, 'busy', `server is busy (${active} requests in progress, queue limit ${queueLimit}); retry shortly`, {
        'Retry-After': '1',
      });
    }
    active++;
    try {
      const uploads = await readUploads(req, { maxBytes, maxFiles });
      const results = await host.use(async (engine) => {
        const t0 = performance.now();
        const images: RawImage[] = [];
        // Sequential on purpose: a bad file fails the request before later ones are decoded.
        for (const u of uploads) {
          try {
            images.push(
              await decodeImage(u.data, { size: engine.info.imgSize, fit: engine.info.meta.fit, maxPixels, name: u.filename ? `'${u.filename}'` : u.label }),
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
      served++;
      sendJson(req, res, 200, out.length === 1 ? out[0] : out);
    } finally {
      active--;
    }
  }

  function modelCard(info: ModelInfo) {
    const { meta: _meta, ...rest } = info;
    return { ...rest, loadedAt: loadedAt.get(info.id) };
  }
  const loadedAt = new Map<string, string>();

  const routes: Record<string, Route> = {
    '/': {
      methods: ['GET', 'HEAD'],
      handle(req, res) {
        const html = renderPage();
        res.writeHead(200, {
          'Content-Type': 'text/html; charset=utf-8',
          'Content-Length': Buffer.byteLength(html),
          'Cache-Control': 'no-store',
          'X-Content-Type-Options': 'nosniff',
          'Content-Security-Policy':
            "default-src 'self'; img-src 'self' blob: data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'",
        });
        res.end(req.method === 'HEAD' ? undefined : html);
      },
    },
    '/api/predict': { methods: ['POST'], handle: predict },
    '/api/model': {
      methods: ['GET', 'HEAD'],
      handle(req, res) {
        const info = host.current?.info;
        if (!info) throw new HttpError(503, 'not-ready', 'no model is loaded yet', { 'Retry-After': '1' });
        sendJson(req, res, 200, modelCard(info));
      },
    },
    '/api/stats': {
      methods: ['GET', 'HEAD'],
      async handle(req, res) {
        sendJson(req, res, 200, await stats());
      },
    },
    '/healthz': {
      methods: ['GET', 'HEAD'],
      handle(req, res) {
        sendJson(req, res, 200, { status: 'ok', uptimeS: Math.round(process.uptime()) });
      },
    },
    '/readyz': {
      methods: ['GET', 'HEAD'],
      handle(req, res) {
        const info = host.current?.info;
        const down = host.current?.downReason;
        if (host.ready && info && !closing && !down) sendJson(req, res, 200, { ready: true, model: info.id });
        else sendJson(req, res, 503, { ready: false, reason: closing ? 'shutting down' : (down ?? 'model not loaded yet') });
      },
    },
  };

  async function stats(): Promise<ServerStats> {
    return { active, admitLimit: admitLimit(), rejectedBusy, served, engine: await host.stats() };
  }

  const server = http.createServer((req, res) => {
    const started = performance.now();
    let pathname: string;
    try {
      pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      pathname = '';
    }
    const route = routes[pathname];
    const run = async () => {
      if (pathname === '/favicon.ico') {
        res.writeHead(204).end();
        return;
      }
      if (!route) throw new HttpError(404, 'not-found', `no such path: ${pathname}`);
      if (!route.methods.includes(req.method ?? '')) {
        throw new HttpError(405, 'method-not-allowed', `${req.method} is not allowed on ${pathname}; use ${route.methods.join(' or ')}`, {
          Allow: route.methods.join(', '),
        });
      }
      await route.handle(req, res, started);
    };
    run().catch((e) => sendError(req, res, e));
  });
  // Slow or stalled uploads must not hold an admission slot for ever.
  server.requestTimeout = 60_000;
  server.headersTimeout = 20_000;
  server.keepAliveTimeout = 5_000;

  host.onSwap((e) => loadedAt.set(e.to, new Date().toISOString()));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8080, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  try {
    await host.start();
  } catch (e) {
    await new Promise((r) => server.close(r));
    throw e;
  }
  loadedAt.set(host.current!.info.id, new Date().toISOString());

  const addr = server.address() as AddressInfo;
  const urlHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  let closed: Promise<void> | null = null;

  const parts: PartsServer = {
    url: `http://${urlHost}:${addr.port}`,
    host: addr.address,
    port: addr.port,
    model: () => host.current?.info ?? null,
    onSwap: (fn) => host.onSwap(fn),
    stats,
    close() {
      closed ??= (async () => {
        closing = true;
        const done = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        const timer = setTimeout(() => server.closeAllConnections(), opts.shutdownTimeoutMs ?? 30_000);
        await done;
        clearTimeout(timer);
        await host.close();
      })();
      return closed;
    },
  };
  testHooks.set(parts, () => host.current);
  return parts;
}

const testHooks = new WeakMap<PartsServer, () => Engine | null>();

/** Internal, for tests (not exported from the package): the engine a server now uses. */
export function engineOf(server: PartsServer): Engine | null {
  return testHooks.get(server)?.() ?? null;
}
