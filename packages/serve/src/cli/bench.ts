import { promises as fsp } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { Command } from 'commander';
import { initBackend, type BackendName } from '@parts/backend';
import { decodeImage } from '@parts/data';
import { addSettingOptions, BENCH_SERVE_SETTINGS, repoRoot, resolveUserPath, runCli, servedModelDir } from '@parts/cli';
import { classify, disposeClassifier, loadClassifier } from '@parts/models';
import { defaultWorkers } from '../server';
import { distinctBodies, loadBenchPhotos } from '../bench-photos';
import { loadServeProcess, type ServeLoadResult } from '../serve-process-bench';

/**
 * `pnpm bench:serve`: a bounded load run against `pnpm serve` on loopback, once per engine (tfjs,
 * ONNX Runtime), each server in its own process so its resident memory is measured alone; beside
 * the bare tfjs model's predict time. The requests rotate through real photos, each made a distinct
 * photo (bench-photos.ts), so the prediction log's comparison counts storing a photo per request,
 * not a row per request of one photo stored once.
 */

interface BenchServeOptions {
  model: string;
  image?: string;
  photos?: string[];
  duration: number;
  connections: number;
  workers: number;
  backend: BackendName;
  iterations: number;
  engines: string;
  logRounds: number;
}

const program = addSettingOptions(
  new Command('bench:serve').description('Load-test the prediction service on loopback and compare with the bare model'),
  BENCH_SERVE_SETTINGS,
  { defaults: { model: servedModelDir(), workers: defaultWorkers() } },
);

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

runCli(
  program,
  async (o: BenchServeOptions) => {
    const modelDir = resolveUserPath(o.model);
    const shared = path.resolve(repoRoot(), '../shared/datasets');
    const folders = o.photos?.length ? o.photos.map(resolveUserPath) : [path.join(shared, 'parts'), path.join(shared, 'bolts-nuts')];
    const set = await loadBenchPhotos(folders);
    const imageFile = o.image ? resolveUserPath(o.image) : (set.files[0] ?? null);
    const image = imageFile ? await fsp.readFile(imageFile) : set.photos[0]!;
    const backend = await initBackend(o.backend, () => {});
    const loadBefore = os.loadavg()[0]!;

    // Bare model: decode once, then time predict alone and decode + predict.
    const c = await loadClassifier(modelDir);
    const decodeOpts = { size: c.meta.imgSize, fit: c.meta.fit };
    const raw = await decodeImage(image, decodeOpts);
    await classify(c, [raw]); // warm-up (kernel compilation)
    const predictMs: number[] = [];
    const fullMs: number[] = [];
    for (let i = 0; i < o.iterations; i++) {
      let t = performance.now();
      await classify(c, [raw]);
      predictMs.push(performance.now() - t);
      t = performance.now();
      await classify(c, [await decodeImage(image, decodeOpts)]);
      fullMs.push(performance.now() - t);
    }
    disposeClassifier(c);
    predictMs.sort((a, b) => a - b);
    fullMs.sort((a, b) => a - b);

    const engines = o.engines.split(',').map((e) => e.trim());
    for (const e of engines) if (e !== 'tfjs' && e !== 'onnx') throw new Error(`--engines: ${e} is not tfjs or onnx`);
    let runNo = 0;
    // Every run sends photos no earlier run sent (its own tag), so a log never finds one stored already.
    const bodies = () => distinctBodies(set.photos, `run${runNo++}`);
    const common = { modelDir, workers: o.workers, backend: o.backend, connections: o.connections, durationS: o.duration };
    // Each engine in its own serve process, one after the other in this run (same machine state).
    const loads: ServeLoadResult[] = [];
    for (const engine of engines as ('tfjs' | 'onnx')[]) loads.push(await loadServeProcess({ ...common, engine, body: bodies(), extraArgs: ['--no-log'] }));

    // The prediction log's cost: the first engine without and with the log, interleaved in this one
    // run, the order alternating per pair (off-on, on-off, ...), so a drift of the machine's load
    // falls on both sides alike. A fresh data folder per run with the log.
    const logRuns: { off: ServeLoadResult[]; on: ServeLoadResult[] } = { off: [], on: [] };
    if (o.logRounds > 0) {
      const logRoot = await fsp.mkdtemp(path.join(os.tmpdir(), 'parts-bench-log-'));
      try {
        const base = { ...common, engine: engines[0] as 'tfjs' | 'onnx' };
        const off = async () => logRuns.off.push(await loadServeProcess({ ...base, body: bodies(), extraArgs: ['--no-log'] }));
        const on = async () => logRuns.on.push(await loadServeProcess({ ...base, body: bodies(), extraArgs: ['--data-dir', path.join(logRoot, `run${runNo}`)] }));
        for (let k = 0; k < o.logRounds; k++) {
          if (k % 2 === 0) {
            await off();
            await on();
          } else {
            await on();
            await off();
          }
        }
      } finally {
        await fsp.rm(logRoot, { recursive: true, force: true });
      }
    }
    const loadAfter = os.loadavg()[0]!;

    const f = (x: number) => x.toFixed(2).padStart(9);
    const g = (x: number) => x.toFixed(1).padStart(9);
    console.log(`model      ${modelDir} (${c.meta.arch}/${c.meta.mode}, ${c.meta.imgSize}px)`);
    console.log(`photos     ${set.origin}; every request a distinct photo (a JPEG comment numbers it)`);
    console.log(`image      ${imageFile ?? 'the first generated photo'} (${image.length} bytes), for the bare model`);
    console.log(`backend    ${backend.name} (${backend.device}); tfjs server workers: ${o.workers}; ${o.connections} connections for ${o.duration}s; ${os.availableParallelism()} cores`);
    console.log(`load       1-minute load average ${loadBefore.toFixed(2)} at start, ${loadAfter.toFixed(2)} at the end (this machine, other work included)`);
    console.log('');
    console.log('bare tfjs model (this process, same image)    ms');
    console.log(`  predict p50 / p99                   ${f(quantile(predictMs, 0.5))} ${f(quantile(predictMs, 0.99))}`);
    console.log(`  decode + predict p50                ${f(quantile(fullMs, 0.5))}`);
    console.log('');
    console.log(`pnpm serve in its own process        ${engines.map((e) => e.padStart(9)).join(' ')}`);
    const row = (label: string, pick: (r: ServeLoadResult) => string) => console.log(`  ${label.padEnd(35)}${loads.map(pick).join(' ')}`);
    row('requests/s (mean)', (r) => f(r.requestsPerS));
    row('latency p50 ms', (r) => f(r.p50Ms));
    row('server CPU ms per answer', (r) => f(r.cpuMsPerRequest));
    row('latency p99 ms', (r) => f(r.p99Ms));
    row('resident MiB after start-up', (r) => g(r.rssAfterStartMiB));
    row('resident MiB peak (VmHWM)', (r) => g(r.rssPeakMiB));
    row('resident MiB after the load', (r) => g(r.rssAfterLoadMiB));
    row('start-up s', (r) => f(r.startupMs / 1000));
    row('2xx / failed', (r) => `${r.ok}/${r.failed}`.padStart(9));
    for (const r of loads) console.log(`  ${r.engine}: ${r.engineLine}`);
    if (logRuns.on.length) {
      const rps = (v: ServeLoadResult[]) => v.map((r) => r.requestsPerS);
      const ratios = logRuns.on.map((r, k) => r.requestsPerS / logRuns.off[k]!.requestsPerS).sort((a, b) => a - b);
      const range = (v: number[], d = 2) => `${Math.min(...v).toFixed(d)}–${Math.max(...v).toFixed(d)}`;
      const mr = median(ratios);
      console.log('');
      console.log(`prediction log (${engines[0]}, ${o.connections} connections, ${o.logRounds} interleaved pairs of ${o.duration}s runs; a new photo stored per request)`);
      console.log(`  requests/s without the log          median ${f(median(rps(logRuns.off)))}   range ${range(rps(logRuns.off))}`);
      console.log(`  requests/s with the log             median ${f(median(rps(logRuns.on)))}   range ${range(rps(logRuns.on))}`);
      console.log(`  latency p50 ms without / with       median ${f(median(logRuns.off.map((r) => r.p50Ms)))} ${f(median(logRuns.on.map((r) => r.p50Ms)))}`);
      console.log(`  with / without, per pair            median ${mr.toFixed(3)} x (cost ${((1 - mr) * 100).toFixed(1)}%)   range ${range(ratios, 3)}   pairs: ${ratios.map((x) => x.toFixed(3)).join(', ')}`);
      // CPU per answer is far less sensitive to other programs than requests/s: on a CPU-bound
      // server, throughput scales with its inverse, so this ratio is the log's cost in throughput there.
      const cpu = (v: ServeLoadResult[]) => v.map((r) => r.cpuMsPerRequest);
      const cpuOff = median(cpu(logRuns.off));
      const cpuOn = median(cpu(logRuns.on));
      console.log(`  server CPU ms per answer            median ${f(cpuOff)} ${f(cpuOn)} (without / with; ranges ${range(cpu(logRuns.off), 1)} / ${range(cpu(logRuns.on), 1)})`);
      console.log(`  throughput cost when CPU-bound      ${((1 - cpuOff / cpuOn) * 100).toFixed(1)}% (1 - CPU per answer without / with)`);
      console.log(`  photos stored with the log          ${logRuns.on.reduce((n, r) => n + r.ok, 0)} (one per 2xx answer)`);
      const perCommit = logRuns.on.filter((r) => r.log).map((r) => r.log!.recorded / r.log!.commits);
      if (perCommit.length) console.log(`  records per commit                  median ${f(median(perCommit))}   range ${range(perCommit)}`);
    }
    return [...loads, ...logRuns.off, ...logRuns.on].some((r) => r.failed > 0) ? 1 : 0;
  },
  { errorPrefix: 'bench:serve' },
);
