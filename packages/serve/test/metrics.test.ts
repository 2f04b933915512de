// GET /metrics (Prometheus text format) and the drift alarm through the server: counts after known
// requests, one registry per server, the refused-model gauge, and the alarm firing on a model whose
// detector rejects every photo while staying quiet on one that accepts every photo.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import { encodeRgbPng, farOodImage } from '@parts/data';
import { OOD_JSON, scorerFromState, writeOodFile } from '@parts/models';
import { createServer, type PartsServer } from '../src/index';
import { makeModel, multipart, request, tempDir } from './fixtures';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format strictly: every line a comment, HELP/TYPE or a sample. */
function parseMetrics(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') types.set(meta[2]!, meta[3]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    expect(m, `not a sample line: ${line}`).not.toBeNull();
    const labels: Record<string, string> = {};
    const body = m![2] ?? '';
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
    let consumed = 0;
    for (let l = re.exec(body); l; l = re.exec(body)) {
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      consumed += l[0].length;
    }
    expect(consumed, `bad labels in: ${line}`).toBe(body.length);
    // Go's ParseFloat, as Prometheus reads it: also +Inf, -Inf and NaN in any case (prom-client writes "Nan").
    const raw = m![3]!;
    const value = /^\+?inf$/i.test(raw) ? Infinity : /^-inf$/i.test(raw) ? -Infinity : /^nan$/i.test(raw) ? NaN : Number(raw);
    expect(Number.isNaN(value) && !/^nan$/i.test(raw), `bad value in: ${line}`).toBe(false);
    samples.push({ name: m![1]!, labels, value });
  }
  return { samples, types };
}

/** The samples of `name` whose labels include `labels`. */
const find = (s: Sample[], name: string, labels: Record<string, string> = {}) =>
  s.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
const sum = (s: Sample[], name: string, labels: Record<string, string> = {}) => find(s, name, labels).reduce((a, x) => a + x.value, 0);

let dir: string;
let pngs: Buffer[];
const servers: PartsServer[] = [];

async function start(model: string, o: Partial<Parameters<typeof createServer>[0]> = {}): Promise<PartsServer> {
  const s = await createServer({ modelDir: path.join(dir, model), port: 0, workers: 0, backend: 'cpu', watchIntervalMs: 0, log: () => {}, ...o });
  servers.push(s);
  return s;
}

async function scrape(s: PartsServer) {
  const r = await request(`${s.url}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(r.text);
}

/** Posts `n` photos as one multipart request; returns the answers. */
async function predict(s: PartsServer, n: number): Promise<any[]> {
  const { body, contentType } = multipart(pngs.slice(0, n).map((data, i) => ({ field: 'image', filename: `p${i}.png`, type: 'image/png', data })));
  const r = await request(`${s.url}/api/predict`, { method: 'POST', headers: { 'content-type': contentType }, body });
  expect(r.status, r.text).toBe(200);
  return n === 1 ? [r.json] : r.json;
}

/** A detector that scores by maximum softmax probability, accepting at `threshold` (as if fitted: accept rate 0.95). */
async function writeMspDetector(modelDir: string, threshold: number) {
  await writeOodFile(modelDir, {
    scorer: scorerFromState({ method: 'msp', featureDim: 4, numClasses: 2, params: {}, arrays: {} }),
    method: 'msp',
    threshold,
    acceptRate: 0.95,
    temperature: 1,
    labels: ['big', 'small'],
    fittedOn: { n: 40, split: 'train', thresholdN: 40, thresholdSplit: 'val' },
  });
}

beforeAll(async () => {
  await initBackend('cpu', () => {});
  dir = await tempDir('serve-metrics-');
  await makeModel(path.join(dir, 'plain'), { runId: 'tiny-a', imgSize: 32 });
  // MSP is at most 1: a threshold above it answers every photo unknown, a threshold of 0 none.
  await makeModel(path.join(dir, 'rejects-all'), { runId: 'tiny-u', imgSize: 32 });
  await writeMspDetector(path.join(dir, 'rejects-all'), 1.5);
  await makeModel(path.join(dir, 'accepts-all'), { runId: 'tiny-k', imgSize: 32 });
  await writeMspDetector(path.join(dir, 'accepts-all'), 0);
  await makeModel(path.join(dir, 'refused'), { runId: 'tiny-bad', imgSize: 32 });
  await fsp.writeFile(path.join(dir, 'refused', OOD_JSON), '{ not json');
  pngs = await Promise.all(Array.from({ length: 15 }, (_, i) => encodeRgbPng(farOodImage('checkerboard', i + 1, 48, 40))));
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  if (dir) await fsp.rm(dir, { recursive: true, force: true });
});

describe('GET /metrics', () => {
  it('counts requests by route and status, latency, predictions per class, the model and log-write failures', async () => {
    const s = await start('plain');
    const answers = [...(await predict(s, 1)), ...(await predict(s, 1)), ...(await predict(s, 3))];
    expect((await request(`${s.url}/no/such/path`)).status).toBe(404);
    expect((await request(`${s.url}/api/predict`)).status).toBe(405);
    s.logWriteFailed();
    s.logWriteFailed();
    const { samples, types } = await scrape(s);

    expect(types.get('parts_http_requests_total')).toBe('counter');
    expect(types.get('parts_http_request_duration_seconds')).toBe('histogram');
    expect(find(samples, 'parts_http_requests_total', { route: '/api/predict', method: 'POST', status: '200' })[0]?.value).toBe(3);
    expect(find(samples, 'parts_http_requests_total', { route: 'other', method: 'GET', status: '404' })[0]?.value).toBe(1);
    expect(find(samples, 'parts_http_requests_total', { route: '/api/predict', method: 'GET', status: '405' })[0]?.value).toBe(1);
    // The scrape itself is counted once its answer is sent: not in its own text.
    expect(find(samples, 'parts_http_requests_total', { route: '/metrics' })).toEqual([]);
    // Latency is by route: the three POSTs and the refused GET.
    expect(find(samples, 'parts_http_request_duration_seconds_count', { route: '/api/predict' })[0]?.value).toBe(4);
    expect(find(samples, 'parts_http_request_duration_seconds_bucket', { route: '/api/predict', le: '+Inf' })[0]?.value).toBe(4);
    expect(find(samples, 'parts_http_request_duration_seconds_sum', { route: '/api/predict' })[0]!.value).toBeGreaterThan(0);

    // One count per photo, by its most probable class; this model has no detector, so none unknown.
    for (const cls of ['big', 'small']) {
      expect(sum(samples, 'parts_predictions_total', { class: cls })).toBe(answers.filter((a) => a.top === cls).length);
    }
    expect(sum(samples, 'parts_predictions_total')).toBe(5);
    expect(sum(samples, 'parts_predictions_total', { unknown: 'true' })).toBe(0);

    expect(find(samples, 'parts_model_info')).toEqual([{ name: 'parts_model_info', labels: { id: 'tiny-a', arch: 'tinytest', mode: 'scratch', sha256: s.model()!.sha256 }, value: 1 }]);
    expect(find(samples, 'parts_model_ready')[0]?.value).toBe(1);
    expect(find(samples, 'parts_model_refused')).toEqual([]);
    expect(find(samples, 'parts_queue_depth')[0]?.value).toBe(0);
    expect(find(samples, 'parts_engine_queued')[0]?.value).toBe(0);
    expect(find(samples, 'parts_log_write_failures_total')[0]?.value).toBe(2);
    // No detector: nothing to predict the unknown rate from, so the gauge is NaN and the alarm off.
    expect(find(samples, 'parts_expected_unknown_rate')[0]?.value).toBeNaN();
    expect(find(samples, 'parts_drift_p_value')[0]?.value).toBeNaN();
    expect(find(samples, 'parts_drift_alarm')[0]?.value).toBe(0);
    expect(find(samples, 'parts_drift_window_answers')[0]?.value).toBe(5);
    // prom-client's process metrics.
    expect(find(samples, 'process_cpu_user_seconds_total')).toHaveLength(1);
    expect(find(samples, 'nodejs_heap_size_used_bytes')).toHaveLength(1);

    // HEAD answers without a body; the scrape above is now counted.
    const head = await request(`${s.url}/metrics`, { method: 'HEAD' });
    expect([head.status, head.text]).toEqual([200, '']);
    const again = (await scrape(s)).samples;
    expect(find(again, 'parts_http_requests_total', { route: '/metrics', method: 'GET', status: '200' })[0]?.value).toBe(1);
    expect(find(again, 'parts_http_requests_total', { route: '/metrics', method: 'HEAD', status: '200' })[0]?.value).toBe(1);
  });

  it('keeps one registry per server: two servers in one process do not mix their counts', async () => {
    const a = await start('plain');
    const b = await start('accepts-all');
    await predict(a, 2);
    await predict(b, 1);
    await predict(b, 1);
    await predict(b, 1);
    a.logWriteFailed();
    const [ma, mb] = [(await scrape(a)).samples, (await scrape(b)).samples];
    expect(sum(ma, 'parts_predictions_total')).toBe(2);
    expect(sum(mb, 'parts_predictions_total')).toBe(3);
    expect(find(ma, 'parts_http_requests_total', { route: '/api/predict', status: '200' })[0]?.value).toBe(1);
    expect(find(mb, 'parts_http_requests_total', { route: '/api/predict', status: '200' })[0]?.value).toBe(3);
    expect(find(ma, 'parts_log_write_failures_total')[0]?.value).toBe(1);
    expect(find(mb, 'parts_log_write_failures_total')[0]?.value).toBe(0);
    expect(find(ma, 'parts_model_info')[0]?.labels.id).toBe('tiny-a');
    expect(find(mb, 'parts_model_info')[0]?.labels.id).toBe('tiny-k');
    expect(find(mb, 'parts_expected_unknown_rate')[0]?.value).toBeCloseTo(0.05, 12);
    // Each registry has its own default process metrics.
    expect(find(ma, 'process_resident_memory_bytes')).toHaveLength(1);
    expect(find(mb, 'process_resident_memory_bytes')).toHaveLength(1);
  });

  it('reports a refused model: parts_model_refused{id} 1, not ready, no model info', async () => {
    const s = await start('refused');
    expect(s.model()).toBeNull();
    const { samples } = await scrape(s);
    expect(find(samples, 'parts_model_refused')).toEqual([{ name: 'parts_model_refused', labels: { id: 'tiny-bad' }, value: 1 }]);
    expect(find(samples, 'parts_model_ready')[0]?.value).toBe(0);
    expect(find(samples, 'parts_model_info')).toEqual([]);
  });
});

describe('drift alarm through the server', () => {
  it('fires when every photo is answered unknown (validation predicts 5%), once the window holds 30 answers', async () => {
    const s = await start('rejects-all', { drift: { window: 40, pValue: 0.001 } });
    const first = await predict(s, 15);
    expect(first.every((a) => a.unknown)).toBe(true);
    let drift = (await request(`${s.url}/api/stats`)).json.drift;
    expect(drift).toMatchObject({ modelId: 'tiny-u', window: 40, answers: 15, unknown: 15, unknownRate: 1, alarm: false, minAnswers: 30 });
    expect(drift.expectedUnknownRate).toBeCloseTo(0.05, 12);
    expect(drift.pValue).toBeCloseTo(0.05 ** 15, 30);
    expect(drift.scoreNote).toMatch(/no summary of the validation scores/);
    await predict(s, 15);
    drift = (await request(`${s.url}/api/stats`)).json.drift;
    expect(drift).toMatchObject({ answers: 30, unknown: 30, alarm: true });
    // Mean of the window's MSP scores (each the answer's ood.score).
    expect(drift.meanOodScore).toBeCloseTo([...first, ...first].reduce((a, x) => a + x.ood.score, 0) / 30, 9);
    const { samples } = await scrape(s);
    expect(find(samples, 'parts_drift_alarm')[0]?.value).toBe(1);
    expect(find(samples, 'parts_drift_window_unknown_rate')[0]?.value).toBe(1);
    expect(find(samples, 'parts_drift_window_answers')[0]?.value).toBe(30);
    expect(find(samples, 'parts_expected_unknown_rate')[0]?.value).toBeCloseTo(0.05, 12);
    expect(sum(samples, 'parts_predictions_total', { unknown: 'true' })).toBe(30);
    expect(s.drift().alarm).toBe(true);
  });

  it('stays quiet when the photos are accepted, and tests nothing against an overridden threshold', async () => {
    const s = await start('accepts-all', { drift: { window: 40, pValue: 0.001 } });
    await predict(s, 15);
    await predict(s, 15);
    expect(s.drift()).toMatchObject({ answers: 30, unknown: 0, unknownRate: 0, pValue: 1, alarm: false });
    expect(find((await scrape(s)).samples, 'parts_drift_alarm')[0]?.value).toBe(0);

    const o = await start('rejects-all', { unknown: { threshold: 2 }, drift: { window: 40, pValue: 0.001 } });
    await predict(o, 15);
    await predict(o, 15);
    expect(o.drift()).toMatchObject({ answers: 30, unknown: 30, expectedUnknownRate: null, pValue: null, alarm: false, reason: expect.stringContaining('--unknown-threshold') });
  });
});
