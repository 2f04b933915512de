// createServer: options, the model host, the HTTP server and its shutdown. Requests go through the
// route table (routes.ts) to the handlers (handlers/*.ts).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { initBackend, type BackendName } from '@parts/backend';
import { chooseEngine, type EngineInfo, type EngineRequest, type OodSummary, type UnknownOptions } from '@parts/models';
import { ModelHost, type RefusedModel, type SwapEvent } from './model-host';
import { resolveModelDir, type ModelInfo } from './model-source';
import { sendError, sendJson } from './respond';
import { dispatch, routeLabel } from './routes';
import { DriftMonitor, type DriftStatus } from './drift';
import { ServerMetrics } from './metrics';
import type { Counters, HandlerContext, ServerStats } from './handlers/context';
import type { Engine, RestartPolicy } from './engine';
import { JobRunner } from './log/jobs';
import { PredictionLog, type LogOptions } from './log/prediction-log';
import { AccessControl, type AccessOptions } from './auth/access';
import { BucketLimiter } from './auth/throttle';
import { ReplicaModelSync, type ReplicaSyncStatus } from './registry/replica-sync';

export type { ServerStats } from './handlers/context';
export type { PredictResponse } from './handlers/predict';

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
  /** TensorFlow.js backend of each model instance (and of Grad-CAM on ONNX Runtime). Default 'auto'. */
  backend?: BackendName;
  /**
   * Where the forward pass runs: 'onnx' (ONNX Runtime; refuses to start where it cannot load),
   * 'tfjs', or 'auto' (ONNX Runtime on CPU where it loads). Default 'tfjs'; `pnpm serve` defaults to 'auto'.
   */
  engine?: EngineRequest;
  /** ONNX Runtime intra-op threads. Default: the cores. */
  threads?: number;
  /** Most images one predict call batches together from the queue. Default 8. */
  maxBatch?: number;
  /**
   * Replacing a model worker thread that died: back-off and how many failures in a row
   * before the slot is given up. Default { maxFailures: 5, initialDelayMs: 500, maxDelayMs: 10000 }.
   */
  workerRestart?: Partial<RestartPolicy>;
  /** Unknown detection: `{enabled: false}` ignores ood.json; `{threshold}` replaces its threshold. Default: as stored. */
  unknown?: UnknownOptions;
  /** Longest side of a `?explain=1` overlay, px. Default 512. */
  explainMaxSide?: number;
  /** Poll interval of the model folder for hot swap, ms; 0 = no watching. Default 1000. */
  watchIntervalMs?: number;
  /** How long close() waits for requests in flight before cutting connections. Default 30 s. */
  shutdownTimeoutMs?: number;
  /** Drift alarm: answers in its sliding window, and the binomial p-value below which it fires. Default { window: 200, pValue: 0.001 }. */
  drift?: { window?: number; pValue?: number };
  log?: (msg: string) => void;
  /**
   * The prediction log (photos and answers, for review): its data folder and retention. Default:
   * off (the serve CLI turns it on, in var/ beside the model folder, unless --no-log).
   */
  predictionLog?: LogOptions;
  /** The review page's retrain button runs this command (default: pnpm retrain --data-dir <dataDir>). */
  retrainCommand?: string[];
  /** The review API's state-changing requests, all clients together. Default 1,200 a minute, bursts of 40. */
  reviewRate?: { perMinute: number; burst: number };
  /**
   * API keys, reviewer logins and what is open (auth/access.ts). The keys and accounts live in the
   * prediction log's database (or that of `access.dataDir`). With none, the server answers as
   * before but refuses a non-loopback `host` unless `insecureNoAuth`.
   */
  access?: AccessOptions;
  /**
   * Serve the model the registry of this PostgreSQL database names (see registry/replica-sync.ts)
   * instead of watching modelDir, which is then served only while the registry is empty.
   */
  registry?: {
    url: string;
    /** Local folder of the models copied from the database. */
    cacheDir: string;
    /** Poll interval of the registry besides LISTEN/NOTIFY, ms. Default 30 s. */
    pollMs?: number;
    /** Follow LISTEN/NOTIFY. Default true; false leaves polling alone. */
    notify?: boolean;
  };
}

export interface PartsServer {
  url: string;
  host: string;
  port: number;
  /** The model now answering. */
  model(): ModelInfo | null;
  /** The last model refused (failed to load, or failed its parity check) and why; null once a later one was accepted. */
  refused(): RefusedModel | null;
  /** Its unknown detection and calibration (ood.json), as GET /api/model describes it. */
  unknownDetection(): OodSummary | null;
  /** Where its forward pass runs and why (null without a model). */
  engine(): EngineInfo | null;
  /** Called after each hot swap. */
  onSwap(fn: (e: SwapEvent) => void): void;
  stats(): Promise<ServerStats>;
  /** The drift alarm's window against what the model's validation predicts (also in stats()). */
  drift(): DriftStatus;
  /** This server's Prometheus metrics as GET /metrics serves them. */
  metricsText(): Promise<string>;
  /** Counts a failed prediction-log write in parts_log_write_failures_total. */
  logWriteFailed(): void;
  /** With `registry`: which registry model this server serves, and the last one it refused. */
  registry(): ReplicaSyncStatus | null;
  /** With `registry`: reads the registry now and swaps when it names another model (as a notification does). */
  checkRegistry(): Promise<void>;
  /** Graceful: stop accepting, finish requests in flight, free the model(s). */
  close(): Promise<void>;
}

/** One model worker on a 2-core machine (the other core serves HTTP and decodes); cores-1 up to 4 above. */
export function defaultWorkers(): number {
  const cores = os.availableParallelism();
  return cores <= 2 ? 1 : Math.min(4, cores - 1);
}

export async function createServer(opts: ServerOptions): Promise<PartsServer> {
  const log = opts.log ?? ((m: string) => console.error(m));
  const maxBytes = opts.maxBytes ?? 10 * 1024 * 1024;
  const maxPixels = opts.maxPixels ?? 50e6;
  const maxFiles = opts.maxFiles ?? 16;
  const queueLimit = opts.queueLimit ?? 16;
  const workers = opts.workers ?? defaultWorkers();
  const backend = opts.backend ?? 'auto';
  const explainMaxSide = opts.explainMaxSide ?? 512;
  for (const [name, v] of Object.entries({ maxBytes, maxPixels, maxFiles, explainMaxSide })) {
    if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`${name} must be a positive number, got ${v}`);
  }
  if (!(Number.isInteger(queueLimit) && queueLimit >= 0)) throw new RangeError(`queueLimit must be an integer >= 0, got ${queueLimit}`);
  if (!(Number.isInteger(workers) && workers >= 0)) throw new RangeError(`workers must be an integer >= 0, got ${workers}`);

  // --engine onnx where ONNX Runtime cannot load: a start-up error naming why, not a refused model.
  if (opts.engine === 'onnx') await chooseEngine('onnx');
  // The port is known once listening; refusal rows name the server by it.
  let listenPort = opts.port ?? 8080;
  const sync = opts.registry
    ? await ReplicaModelSync.prepare({
        url: opts.registry.url,
        cacheDir: opts.registry.cacheDir,
        localModelDir: opts.modelDir,
        pollMs: opts.registry.pollMs ?? 30_000,
        notify: opts.registry.notify,
        replica: () => `${os.hostname()}:${listenPort} (pid ${process.pid})`,
        log,
      })
    : null;
  const modelDir = sync ? sync.servedDir : await resolveModelDir(opts.modelDir);
  // The retrain button promotes into the local model folder (and the registry, with --db).
  const retrainTarget = sync ? await resolveModelDir(opts.modelDir).catch(() => sync.servedDir) : modelDir;
  // Before any model work: a corrupt log database stops the start with what to do.
  // Failed writes are counted in the metrics too (parts_log_write_failures_total).
  let onLogFailure = (_n: number): void => {};
  let predictionLog: PredictionLog | null = null;
  let access: AccessControl;
  try {
    predictionLog = opts.predictionLog ? await PredictionLog.open({ ...opts.predictionLog, onFailure: (n) => onLogFailure(n) }) : null;
    // Keys and accounts, and whether `host` may be listened on without them: before any model work.
    access = await AccessControl.open({ ...opts.access, dataDir: opts.access?.dataDir ?? opts.predictionLog?.dataDir, db: predictionLog?.db, log });
    try {
      await access.checkBind(opts.host ?? '127.0.0.1');
    } catch (e) {
      await access.close();
      throw e;
    }
  } catch (e) {
    await predictionLog?.close();
    await sync?.close();
    throw e;
  }
  // The job's command is shown on the review page and kept in its job file: a database password
  // goes to the job as PGPASSWORD (which pg reads), not on its command line.
  const jobDb = opts.predictionLog?.db ? splitPassword(opts.predictionLog.db) : null;
  const retrain = predictionLog
    ? new JobRunner({
        dataDir: predictionLog.dataDir,
        name: 'retrain',
        command: opts.retrainCommand ?? ['pnpm', 'retrain', '--data-dir', predictionLog.dataDir, '--target', retrainTarget, ...(jobDb ? ['--db', jobDb.url] : [])],
        env: jobDb?.password ? { PGPASSWORD: jobDb.password } : undefined,
      })
    : null;
  // From here on a failed start closes what it opened (the databases, the registry's connections).
  const closeOpened = () => closeEach([() => access.close(), () => sync?.close(), () => predictionLog?.close()]);
  if (workers === 0) await initBackend(backend, log).catch(async (e) => {
    await closeOpened().catch(() => {});
    throw e;
  });
  const host = new ModelHost({
    modelDir,
    workers,
    backend,
    engine: opts.engine,
    threads: opts.threads,
    maxBatch: opts.maxBatch ?? 8,
    restart: opts.workerRestart,
    unknown: opts.unknown,
    // With the registry the database says when the model changes, not the folder.
    watchIntervalMs: sync ? 0 : (opts.watchIntervalMs ?? 1000),
    log,
  });

  const counters: Counters = { active: 0, rejectedBusy: 0, served: 0, closing: false };
  const loadedAt = new Map<string, string>();
  const admitLimit = () => (host.current?.capacity ?? 0) + queueLimit;
  const driftMonitor = new DriftMonitor({ window: opts.drift?.window ?? 200, pValue: opts.drift?.pValue ?? 0.001 });
  const drift = () => driftMonitor.status(host.current?.ood ?? null, host.current?.info.id ?? null);
  const metrics = new ServerMetrics({
    active: () => counters.active,
    engineQueued: async () => (await host.stats())?.queued ?? 0,
    model: () => host.current?.info ?? null,
    refused: () => host.refused,
    drift,
  });
  onLogFailure = (n) => metrics.logWriteFailed(n);
  async function stats(): Promise<ServerStats> {
    const { active, rejectedBusy, served } = counters;
    return { active, admitLimit: admitLimit(), rejectedBusy, served, engine: await host.stats(), drift: drift(), log: predictionLog?.stats() ?? { enabled: false }, registry: sync?.status() ?? null };
  }
  const ctx: HandlerContext = {
    host,
    limits: { maxBytes, maxPixels, maxFiles, queueLimit, explainMaxSide },
    counters,
    loadedAt,
    admitLimit,
    stats,
    metrics,
    answered(answers) {
      metrics.observePredictions(answers);
      for (const a of answers) driftMonitor.add(a.model.id, a.unknown, a.ood?.score ?? null);
    },
    predictionLog,
    retrain,
    access,
    reviewLimiter: new BucketLimiter(opts.reviewRate?.perMinute ?? 1200, opts.reviewRate?.burst ?? 40),
    sendJson: (req, res, status, body, headers) => sendJson(req, res, status, body, headers, counters.closing),
  };

  const server = http.createServer((req, res) => {
    const started = performance.now();
    res.once('close', () => {
      metrics.observeRequest(routeLabel(req.url), req.method ?? '', res.writableFinished ? res.statusCode : 'aborted', (performance.now() - started) / 1000);
    });
    dispatch(ctx, req, res, started).catch((e) => sendError(req, res, e, log, counters.closing));
  });
  // Slow or stalled uploads must not hold an admission slot for ever.
  server.requestTimeout = 60_000;
  server.headersTimeout = 20_000;
  server.keepAliveTimeout = 5_000;

  host.onSwap((e) => loadedAt.set(e.to, new Date().toISOString()));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 8080, opts.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    // A taken port: the model host has not started, but the databases are open.
    await closeOpened().catch(() => {});
    throw e;
  }
  listenPort = (server.address() as AddressInfo).port;
  try {
    await host.start();
    await sync?.attach(host);
  } catch (e) {
    await new Promise((r) => server.close(r));
    await closeEach([() => host.close(), closeOpened]).catch(() => {});
    throw e;
  }
  // A refused model leaves the host without one: the server stays up (/healthz 200, /readyz 503 with the reason).
  if (host.current) loadedAt.set(host.current.info.id, new Date().toISOString());

  const addr = server.address() as AddressInfo;
  const urlHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  let closed: Promise<void> | null = null;

  const parts: PartsServer = {
    url: `http://${urlHost}:${addr.port}`,
    host: addr.address,
    port: addr.port,
    model: () => host.current?.info ?? null,
    refused: () => host.refused,
    unknownDetection: () => host.current?.ood ?? null,
    engine: () => host.current?.engine ?? null,
    onSwap: (fn) => host.onSwap(fn),
    stats,
    drift,
    metricsText: () => metrics.text(),
    logWriteFailed: () => metrics.logWriteFailed(),
    registry: () => sync?.status() ?? null,
    checkRegistry: () => sync?.check() ?? Promise.resolve(),
    close() {
      closed ??= (async () => {
        counters.closing = true;
        const done = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        const timer = setTimeout(() => server.closeAllConnections(), opts.shutdownTimeoutMs ?? 30_000);
        await done;
        clearTimeout(timer);
        // A retrain started from the review page stops with the server (its whole process group).
        // Each step even when one before it failed: a stuck job must not leave the log open.
        await closeEach([() => retrain?.cancel('the server stopped while it ran'), () => sync?.close(), () => host.close(), () => access.close(), () => predictionLog?.close()]);
      })();
      return closed;
    },
  };
  testHooks.set(parts, () => host.current);
  return parts;
}

/** Runs every step, in order, even after one fails; then throws the first failure. */
async function closeEach(steps: readonly (() => unknown)[]): Promise<void> {
  let first: unknown = null;
  for (const step of steps) {
    try {
      await step();
    } catch (e) {
      first ??= e;
    }
  }
  if (first !== null) throw first;
}

/** A database URL without its password, and the password (decoded), for a child process. */
export function splitPassword(url: string): { url: string; password: string | null } {
  const u = new URL(url);
  if (!u.password) return { url, password: null };
  const password = decodeURIComponent(u.password);
  u.password = '';
  return { url: u.toString(), password };
}

const testHooks = new WeakMap<PartsServer, () => Engine | null>();

/** Internal, for tests (not exported from the package): the engine a server now uses. */
export function engineOf(server: PartsServer): Engine | null {
  return testHooks.get(server)?.() ?? null;
}
