// Prometheus scraping serve replicas' /metrics, run unprivileged from a temporary folder with a
// generated configuration of the same shape as deploy/prometheus/prometheus.yml (one job, one
// static target per replica, the example alert rules loaded), and read back through its HTTP API.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '@parts/cli';
import { findExecutable, spawnGroup, waitUntil, type GroupProcess } from './processes';

/** The example alert rules, loaded by the generated configuration (so a broken rule fails the start). */
export const ALERT_RULES = path.join(repoRoot(), 'deploy', 'prometheus', 'alerts.yml');
export const SCRAPE_JOB = 'parts-serve';

export function findPrometheus(): string | null {
  return findExecutable('prometheus', ['/usr/bin/prometheus']);
}

/** prometheus.yml for `targets` (host:port each), scraped every `scrapeIntervalS` seconds. */
export function prometheusConfig(o: { targets: string[]; scrapeIntervalS: number; ruleFiles?: string[] }): string {
  const q = (s: string) => JSON.stringify(s); // a JSON string is a YAML string
  return [
    'global:',
    `  scrape_interval: ${o.scrapeIntervalS}s`,
    `  evaluation_interval: ${o.scrapeIntervalS}s`,
    ...(o.ruleFiles?.length ? ['rule_files:', ...o.ruleFiles.map((f) => `  - ${q(f)}`)] : []),
    'scrape_configs:',
    `  - job_name: ${q(SCRAPE_JOB)}`,
    '    metrics_path: /metrics',
    `    scrape_timeout: ${o.scrapeIntervalS}s`,
    '    static_configs:',
    `      - targets: [${o.targets.map(q).join(', ')}]`,
    '',
  ].join('\n');
}

export interface ScrapeTarget {
  instance: string;
  health: 'up' | 'down' | 'unknown';
  lastScrape: Date;
  lastError: string;
}

export interface PrometheusHandle {
  url: string;
  process: GroupProcess;
  /** The value of an instant query returning one sample (a scalar, or a vector of one element); null for an empty vector. */
  query(expr: string): Promise<number | null>;
  /** The active targets of the scrape job. */
  targets(): Promise<ScrapeTarget[]>;
  stop(): Promise<void>;
}

async function api<T>(url: string): Promise<T> {
  const r = await fetch(url);
  const body = (await r.json()) as { status: string; data: T; error?: string };
  if (!r.ok || body.status !== 'success') throw new Error(`Prometheus ${url}: ${r.status} ${body.error ?? ''}`);
  return body.data;
}

/** Starts Prometheus on 127.0.0.1:`port` with its configuration and data in `dir`. */
export async function startPrometheus(o: { dir: string; port: number; targets: string[]; scrapeIntervalS?: number; binary?: string }): Promise<PrometheusHandle> {
  const bin = o.binary ?? findPrometheus();
  if (!bin) throw new Error('prometheus is not installed (Debian: apt-get install prometheus)');
  await fsp.mkdir(o.dir, { recursive: true });
  const config = path.join(o.dir, 'prometheus.yml');
  await fsp.writeFile(config, prometheusConfig({ targets: o.targets, scrapeIntervalS: o.scrapeIntervalS ?? 1, ruleFiles: [ALERT_RULES] }));
  const url = `http://127.0.0.1:${o.port}`;
  const proc = spawnGroup('prometheus', bin, [
    `--config.file=${config}`,
    `--storage.tsdb.path=${path.join(o.dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${o.port}`,
    '--storage.tsdb.retention.time=1d',
    '--log.level=warn',
  ]);
  try {
    await waitUntil('Prometheus ready', async () => (await fetch(`${url}/-/ready`)).ok, { proc, timeoutMs: 120_000 });
  } catch (e) {
    await proc.stop(2000);
    throw e;
  }
  return {
    url,
    process: proc,
    async query(expr) {
      const data = await api<{ resultType: string; result: any }>(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      if (data.resultType === 'scalar') return Number(data.result[1]);
      if (data.resultType !== 'vector') throw new Error(`query ${expr}: a ${data.resultType}, not a vector`);
      if (data.result.length === 0) return null;
      if (data.result.length > 1) throw new Error(`query ${expr}: ${data.result.length} samples, expected one`);
      return Number(data.result[0].value[1]);
    },
    async targets() {
      const data = await api<{ activeTargets: { labels: Record<string, string>; health: ScrapeTarget['health']; lastScrape: string; lastError: string }[] }>(`${url}/api/v1/targets?state=active`);
      return data.activeTargets
        .filter((t) => t.labels.job === SCRAPE_JOB)
        .map((t) => ({ instance: t.labels.instance!, health: t.health, lastScrape: new Date(t.lastScrape), lastError: t.lastError }));
    },
    stop: () => proc.stop(10_000),
  };
}
