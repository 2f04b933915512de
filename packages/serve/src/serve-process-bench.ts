/**
 * Load on `pnpm serve` running in its own process, so its resident memory is the server's alone
 * (the load generator and the bare-model timing stay in the benchmark's process). The process is
 * started as `node --import tsx serve.ts` (no tsx wrapper process between), its address read from
 * the line it prints when serving, and its memory read from /proc: VmRSS after start-up, VmHWM
 * (the peak) after the load. One request per connection warms the server up before the measured
 * load. Linux only (/proc).
 */
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const SERVE_CLI = fileURLToPath(new URL('./cli/serve.ts', import.meta.url));

export interface ServeLoadOptions {
  modelDir: string;
  /** The body of request i (0, 1, 2, ... across all connections): a JPEG photo. */
  body: (i: number) => Buffer;
  engine: 'tfjs' | 'onnx';
  workers: number;
  backend: string;
  connections: number;
  durationS: number;
  /** More `pnpm serve` flags (e.g. `--no-log`, or `--data-dir DIR` for the prediction log). */
  extraArgs?: string[];
}

export interface ServeLoadResult {
  engine: string;
  /** The engine line serve printed (what runs the forward pass, and why). */
  engineLine: string;
  startupMs: number;
  rssAfterStartMiB: number;
  rssPeakMiB: number;
  rssAfterLoadMiB: number;
  requestsPerS: number;
  /** CPU time of the server process (all its threads) during the measured load per 2xx answer: what limits throughput on a busy CPU. */
  cpuMsPerRequest: number;
  /** The prediction log's counts at the end (warm-up included); null with --no-log. */
  log: { recorded: number; commits: number } | null;
  p50Ms: number;
  p99Ms: number;
  ok: number;
  failed: number;
}

/** CPU time (user + system) the process has used, ms, from /proc/<pid>/stat (clock ticks of 10 ms, USER_HZ 100). */
async function cpuMs(pid: number): Promise<number> {
  const stat = await fsp.readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) in parentheses: utime and stime are 14th and 15th.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

async function memoryMiB(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await fsp.readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

export async function loadServeProcess(o: ServeLoadOptions): Promise<ServeLoadResult> {
  const args = ['--import', 'tsx', SERVE_CLI, '--model', o.modelDir, '--port', '0', '--watch-ms', '0', '--queue', '1024', '--engine', o.engine, '--workers', String(o.workers), '--backend', o.backend, ...(o.extraArgs ?? [])];
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (d: string) => {
        stderr += d;
        const m = /serving .* at (http:\/\/\S+?)\/?$/m.exec(stderr);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`serve --engine ${o.engine} exited (${code}) before serving:\n${stderr.slice(-2000)}`)));
    });
    const startupMs = performance.now() - t0;
    const engineLine = /^engine: (.*)$/m.exec(stderr)?.[1] ?? '';
    const before = await memoryMiB(child.pid!);
    // Warm-up outside the measurement: the first answers compile kernels and fill caches.
    let sent = 0;
    await Promise.all(
      Array.from({ length: o.connections }, async () => {
        const r = await fetch(`${url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: o.body(sent++) });
        await r.arrayBuffer();
      }),
    );
    const cpu0 = await cpuMs(child.pid!);
    const r = await autocannon({
      url,
      connections: o.connections,
      duration: o.durationS,
      // Called for every request on every connection: each takes the next body.
      requests: [{ method: 'POST', path: '/api/predict', headers: { 'content-type': 'image/jpeg' }, setupRequest: (req: any) => ({ ...req, body: o.body(sent++) }) }],
    });
    const cpu1 = await cpuMs(child.pid!);
    const after = await memoryMiB(child.pid!);
    const log = await fetch(`${url}/api/stats`)
      .then((s) => s.json() as Promise<{ log?: { enabled: boolean; recorded?: number; commits?: number } }>)
      .then((s) => (s.log?.enabled && s.log.commits ? { recorded: s.log.recorded!, commits: s.log.commits } : null))
      .catch(() => null);
    return {
      engine: o.engine,
      engineLine,
      startupMs,
      rssAfterStartMiB: before.rss,
      rssPeakMiB: after.hwm,
      rssAfterLoadMiB: after.rss,
      requestsPerS: r.requests.average,
      cpuMsPerRequest: r['2xx'] ? (cpu1 - cpu0) / r['2xx'] : NaN,
      p50Ms: r.latency.p50,
      p99Ms: r.latency.p99,
      ok: r['2xx'],
      failed: r.non2xx + r.errors,
      log,
    };
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  }
}
