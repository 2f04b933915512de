// What the request handlers share: the model host, the limits, the counters and how to answer.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EngineStats } from '../engine';
import type { ModelHost } from '../model-host';
import type { DriftStatus } from '../drift';
import type { ServerMetrics } from '../metrics';
import type { JobRunner } from '../log/jobs';
import type { LogStats, PredictionLog } from '../log/prediction-log';
import type { ReplicaSyncStatus } from '../registry/replica-sync';
import type { RateLimiter } from '../log/guard';

export interface ServerStats {
  /** Requests admitted and not yet answered (reading, decoding, queued or predicting). */
  active: number;
  /** Admitted requests allowed at once: slots + queueLimit. */
  admitLimit: number;
  rejectedBusy: number;
  served: number;
  engine: EngineStats | null;
  /** The drift alarm: the last answers' unknown rate against what validation predicts. */
  drift: DriftStatus;
  /** The prediction log: counts of recorded and failed predictions; `{enabled: false}` with --no-log. */
  log: LogStats | { enabled: false };
  /** With --db: the registry model served here, the registry's current one and the last refused (null without --db). */
  registry: ReplicaSyncStatus | null;
}

export interface Limits {
  maxBytes: number;
  maxPixels: number;
  maxFiles: number;
  queueLimit: number;
  /** Longest side of an explanation overlay, px. */
  explainMaxSide: number;
}

/** Mutable state of one server, changed by the handlers and by close(). */
export interface Counters {
  active: number;
  rejectedBusy: number;
  served: number;
  closing: boolean;
}

export interface HandlerContext {
  host: ModelHost;
  limits: Limits;
  counters: Counters;
  /** When each model (by id) went into service. */
  loadedAt: Map<string, string>;
  /** Admitted requests allowed at once: the engine's slots + queueLimit. */
  admitLimit(): number;
  stats(): Promise<ServerStats>;
  /** This server's Prometheus metrics; `metrics.logWriteFailed()` counts a failed prediction-log write. */
  metrics: ServerMetrics;
  /** Feeds the photos of one answered predict request to the metrics and the drift window. */
  answered(answers: readonly { top: string; unknown: boolean; ood: { score: number } | null; model: { id: string } }[]): void;
  /** The prediction log; null when logging is off. */
  predictionLog: PredictionLog | null;
  /** The review page's retrain job; null when logging is off. */
  retrain: JobRunner | null;
  /** Limits state-changing review requests. */
  reviewLimiter: RateLimiter;
  sendJson(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void;
}

export type Handler = (ctx: HandlerContext, req: IncomingMessage, res: ServerResponse, started: number) => Promise<void> | void;
