import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { initBackend, type BackendName } from '@parts/backend';
import { decodeImage } from '@parts/data';
import { addSettingOptions, BENCH_SERVE_SETTINGS, cliArgv, repoRoot, resolveUserPath, servedModelDir } from '@parts/cli';
import { classify, disposeClassifier, loadClassifier } from '@parts/models';
import os from 'node:os';
import { defaultWorkers } from '../server';
import { loadServeProcess, type ServeLoadResult } from '../serve-process-bench';

/**
 * `pnpm bench:serve`: a bounded load run against `pnpm serve` on loopback with one image, once per
 * engine (tfjs, ONNX Runtime), each server in its own process so its resident memory is measured
 * alone; beside the bare tfjs model's predict time for the same image.
 */

const o = addSettingOptions(
  new Command('bench:serve')
    .description('Load-test the prediction service on loopback and compare with the bare model'),
  BENCH_SERVE_SETTINGS,
  { defaults: { model: servedModelDir(), image: path.resolve(repoRoot(), '../shared/datasets/parts/test/big/m12_bolt_03.jpg'), workers: defaultWorkers() } },
)
  .parse(cliArgv())
  .opts<{ model: string; image: string; duration: number; connections: number; workers: number; backend: BackendName; iterations: number; engines: string; logRounds: number }>();

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const modelDir = resolveUserPath(o.model);
const imageFile = resolveUserPath(o.image);
const image = await fsp.readFile(imageFile);
const backend = await initBackend(o.backend, () => {});

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
const bareP50 = quantile(predictMs, 0.5);
const fullP50 = quantile(fullMs, 0.5);

const engines = o.engines.split(',').map((e) => e.trim());
for (const e of engines) if (e !== 'tfjs' && e !== 'onnx') throw new Error(`--engines: ${e} is not tfjs or onnx`);
// Each engine in its own serve process, one after the other in this run (same machine state).
const loads: ServeLoadResult[] = [];
for (const engine of engines as ('tfjs' | 'onnx')[]) {
  loads.push(await loadServeProcess({ modelDir, image, engine, workers: o.workers, backend: o.backend, connections: o.connections, durationS: o.duration, extraArgs: ['--no-log'] }));
}

// The prediction log's cost: the first engine without and with the log, alternated (off, on, off,
// on, ...) in this one run, so a change of the machine's load falls on both sides alike.
const logRuns: { off: ServeLoadResult[]; on: ServeLoadResult[] } = { off: [], on: [] };
if (o.logRounds > 0) {
  const logDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'parts-bench-log-'));
  try {
    const base = { modelDir, image, engine: engines[0] as 'tfjs' | 'onnx', workers: o.workers, backend: o.backend, connections: o.connections, durationS: o.duration };
    for (let k = 0; k < o.logRounds; k++) {
      logRuns.off.push(await loadServeProcess({ ...base, extraArgs: ['--no-log'] }));
      logRuns.on.push(await loadServeProcess({ ...base, extraArgs: ['--data-dir', logDir] }));
    }
  } finally {
    await fsp.rm(logDir, { recursive: true, force: true });
  }
}

const f = (x: number) => x.toFixed(2).padStart(9);
const g = (x: number) => x.toFixed(1).padStart(9);
console.log(`model      ${modelDir} (${c.meta.arch}/${c.meta.mode}, ${c.meta.imgSize}px)`);
console.log(`image      ${imageFile} (${image.length} bytes)`);
console.log(`backend    ${backend.name} (${backend.device}); tfjs server workers: ${o.workers}; ${o.connections} connections for ${o.duration}s; ${os.availableParallelism()} cores`);
console.log('');
console.log('bare tfjs model (this process, same image)    ms');
console.log(`  predict p50 / p99                   ${f(bareP50)} ${f(quantile(predictMs, 0.99))}`);
console.log(`  decode + predict p50                ${f(fullP50)}`);
console.log('');
console.log(`pnpm serve in its own process        ${engines.map((e) => e.padStart(9)).join(' ')}`);
const row = (label: string, pick: (r: ServeLoadResult) => string) => console.log(`  ${label.padEnd(35)}${loads.map(pick).join(' ')}`);
row('requests/s (mean)', (r) => f(r.requestsPerS));
row('latency p50 ms', (r) => f(r.p50Ms));
row('latency p99 ms', (r) => f(r.p99Ms));
row('resident MiB after start-up', (r) => g(r.rssAfterStartMiB));
row('resident MiB peak (VmHWM)', (r) => g(r.rssPeakMiB));
row('resident MiB after the load', (r) => g(r.rssAfterLoadMiB));
row('start-up s', (r) => f(r.startupMs / 1000));
row('2xx / failed', (r) => `${r.ok}/${r.failed}`.padStart(9));
for (const r of loads) console.log(`  ${r.engine}: ${r.engineLine}`);
if (logRuns.on.length) {
  const mean = (v: ServeLoadResult[]) => v.reduce((a, r) => a + r.requestsPerS, 0) / v.length;
  const pairs = logRuns.on.map((r, k) => r.requestsPerS / logRuns.off[k]!.requestsPerS).sort((a, b) => a - b);
  const off = mean(logRuns.off);
  const on = mean(logRuns.on);
  console.log('');
  console.log(`prediction log (${engines[0]}, ${o.connections} connections, ${o.logRounds} pairs of ${o.duration}s runs without/with it; the same photo each request: stored once, a row per photo)`);
  console.log(`  requests/s without / with the log   ${f(off)} ${f(on)}`);
  console.log(`  with / without: of the means        ${f(on / off)} x   (cost ${((1 - on / off) * 100).toFixed(1)}%)`);
  console.log(`  with / without: median of pairs     ${f(pairs[pairs.length >> 1]!)} x   (pairs: ${pairs.map((x) => x.toFixed(3)).join(', ')})`);
}
if ([...loads, ...logRuns.off, ...logRuns.on].some((r) => r.failed > 0)) process.exitCode = 1;
