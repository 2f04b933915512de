// GET /metrics: the server's Prometheus metrics (prom-client). Each server owns its registry, so
// several servers in one process (tests, benchmarks) never mix their counts.
//
// What an operator alerts on (deploy/prometheus/alerts.yml):
//   parts_http_requests_total{route,method,status}   every answer; route is a known path or "other"
//   parts_http_request_duration_seconds{route}       latency histogram, request start to last byte
//   parts_queue_depth                                 requests admitted and not yet answered
//   parts_engine_queued                               images waiting for a model slot
//   parts_predictions_total{class,unknown}            one per photo answered: class = the most probable
//                                                     class, unknown = "true" when answered unknown
//   parts_model_info{id,arch,mode,sha256}             1 for the model in service
//   parts_model_refused{id}                           1 while the last candidate model is refused
//   parts_model_ready                                 1 when a model answers
//   parts_expected_unknown_rate                       what validation predicts (NaN when it cannot)
//   parts_drift_*                                     the drift alarm's window (drift.ts)
//   parts_log_write_failures_total                    prediction-log writes that failed (logWriteFailed)
//   process_*, nodejs_*                               prom-client's default process metrics
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { OodDecision } from '@parts/models';
import type { DriftStatus } from './drift';

/** What the metrics read from the server when scraped. */
export interface MetricsSource {
  active(): number;
  engineQueued(): Promise<number>;
  model(): { id: string; arch: string; mode: string; sha256: string } | null;
  refused(): { id: string } | null;
  drift(): DriftStatus;
}

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Latency buckets in seconds: a small CPU model answers in tens of milliseconds, a busy queue in seconds. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'route' | 'method' | 'status'>;
  private readonly latency: Histogram<'route'>;
  private readonly predictions: Counter<'class' | 'unknown'>;
  private readonly logFailures: Counter;

  constructor(src: MetricsSource) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({ name: 'parts_http_requests_total', help: 'HTTP requests answered, by route, method and status (status "aborted": the connection closed first)', labelNames: ['route', 'method', 'status'], registers });
    this.latency = new Histogram({ name: 'parts_http_request_duration_seconds', help: 'Time from request start to the last byte of the answer', labelNames: ['route'], buckets: LATENCY_BUCKETS, registers });
    this.predictions = new Counter({ name: 'parts_predictions_total', help: 'Photos answered, by most probable class and whether the answer was unknown', labelNames: ['class', 'unknown'], registers });
    this.logFailures = new Counter({ name: 'parts_log_write_failures_total', help: 'Prediction-log writes that failed', registers });
    new Gauge({ name: 'parts_queue_depth', help: 'Requests admitted and not yet answered (reading, decoding, queued or predicting)', registers, collect() { this.set(src.active()); } });
    new Gauge({ name: 'parts_engine_queued', help: 'Images waiting for a model slot', registers, async collect() { this.set(await src.engineQueued()); } });
    new Gauge({
      name: 'parts_model_info', help: 'The model in service (value 1; its id, architecture, mode and sha256 as labels)', labelNames: ['id', 'arch', 'mode', 'sha256'], registers,
      collect() {
        this.reset();
        const m = src.model();
        if (m) this.set({ id: m.id, arch: m.arch, mode: m.mode, sha256: m.sha256 }, 1);
      },
    });
    new Gauge({ name: 'parts_model_ready', help: '1 when a model is in service', registers, collect() { this.set(src.model() ? 1 : 0); } });
    new Gauge({
      name: 'parts_model_refused', help: '1 while the last candidate model is refused (failed to load or its parity check); its id as label', labelNames: ['id'], registers,
      collect() {
        this.reset();
        const r = src.refused();
        if (r) this.set({ id: r.id }, 1);
      },
    });
    // The drift gauges read one status per scrape.
    let drift: DriftStatus | null = null;
    const d = () => (drift ??= src.drift());
    const gauge = (name: string, help: string, value: (s: DriftStatus) => number | null, first = false) =>
      new Gauge({
        name, help, registers,
        collect() {
          if (first) drift = null; // a fresh status for this scrape (registration order is collection order)
          // NaN for "no value" (prom-client writes an unset unlabelled gauge as 0, which would read
          // as a rate of zero); comparisons with NaN are false in PromQL, so no alert fires on it.
          this.set(value(d()) ?? NaN);
        },
      });
    gauge('parts_expected_unknown_rate', 'Unknown rate the validation of the model in service predicts (NaN when it cannot)', (s) => s.expectedUnknownRate, true);
    gauge('parts_drift_alarm', '1 when the window\'s unknown rate is significantly above what validation predicts (exact binomial test)', (s) => (s.alarm ? 1 : 0));
    gauge('parts_drift_window_answers', 'Answers in the drift window', (s) => s.answers);
    gauge('parts_drift_window_unknown_rate', 'Unknown rate over the drift window (NaN before the first answer)', (s) => s.unknownRate);
    gauge('parts_drift_p_value', 'One-sided binomial p-value of the window\'s unknown count (NaN when not tested)', (s) => s.pValue);
    gauge('parts_drift_window_mean_ood_score', 'Mean feature OOD score over the drift window (NaN when none)', (s) => s.meanOodScore);
    gauge('parts_drift_score_p_value', 'One-sided z-test p-value of the window\'s mean OOD score against the validation scores of ood.json (NaN when not tested)', (s) => s.scorePValue);
    gauge('parts_drift_score_alarm', '1 when the window\'s mean OOD score is significantly below the validation scores\' mean (z-test)', (s) => (s.scoreAlarm ? 1 : 0));
  }

  /** One answered (or aborted) request. */
  observeRequest(route: string, method: string, status: number | 'aborted', seconds: number): void {
    this.requests.inc({ route, method, status: String(status) });
    this.latency.observe({ route }, seconds);
  }

  /** The photos of one answered predict request. */
  observePredictions(answers: readonly Pick<OodDecision, 'top' | 'unknown'>[]): void {
    for (const a of answers) this.predictions.inc({ class: a.top, unknown: String(a.unknown) });
  }

  /** Prediction-log writes of `photos` photos failed (the answers were still sent). */
  logWriteFailed(photos = 1): void {
    this.logFailures.inc(photos);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
