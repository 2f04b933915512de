import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { Command } from 'commander';
import { initBackend, type BackendName } from '@parts/backend';
import { decodeImage } from '@parts/data';
import { cliArgv, numAtLeast, repoRoot, resolveUserPath, servedModelDir } from '@parts/cli';
import { classify, disposeClassifier, loadClassifier } from '@parts/models';
import { createServer, defaultWorkers } from '../server';

/**
 * `pnpm bench:serve`: a bounded load run against the service on loopback with one image,
 * beside the bare model's predict time for the same image, so the service's overhead
 * (HTTP, upload, decode, queueing) reads as a ratio. Then the cost of the prediction log: the same
 * load with and without it, alternated (off, on, off, on) in this one run; every request carries a
 * distinct photo (the image plus a counter after its end), so each logged request stores a new
 * photo file (written, synced, renamed) and a row — the worst case for the log.
 */

const o = new Command('bench:serve')
  .description('Load-test the prediction service on loopback and compare with the bare model')
  .option('--model <dir>', 'model folder or run folder', servedModelDir())
  .option('--image <file>', 'the image every request sends', path.resolve(repoRoot(), '../shared/datasets/parts/test/big/m12_bolt_03.jpg'))
  .option('--duration <s>', 'seconds of load', numAtLeast(1), 10)
  .option('--connections <n>', 'concurrent connections', numAtLeast(1), 4)
  .option('--workers <n>', 'model worker threads of the server (0 = main thread)', numAtLeast(0), defaultWorkers())
  .option('--backend <name>', 'TensorFlow.js backend', 'auto')
  .option('--iterations <n>', 'bare predict calls timed', numAtLeast(1), 30)
  .option('--no-log-compare', 'skip the runs with and without the prediction log')
  .option('--log-rounds <n>', 'pairs of runs (without, with the log) in the log comparison', numAtLeast(1), 3)
  .parse(cliArgv())
  .opts<{ model: string; image: string; duration: number; connections: number; workers: number; backend: BackendName; iterations: number; logCompare: boolean; logRounds: number }>();

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

const server = await createServer({ modelDir, port: 0, workers: o.workers, backend: o.backend, queueLimit: 1024, watchIntervalMs: 0, log: () => {} });
const result = await autocannon({
  url: `${server.url}/api/predict`,
  method: 'POST',
  headers: { 'content-type': 'image/jpeg' },
  body: image,
  connections: o.connections,
  duration: o.duration,
  // Runs in this process (autocannon's worker mode cannot carry a binary body), so the
  // load generator shares the main thread with HTTP handling: the figures are conservative.
});
await server.close();

/** One load run on a fresh server; with `dataDir` the prediction log is on. Each request sends a distinct photo. */
async function loadRun(dataDir?: string): Promise<{ rps: number; cpuMsPerRequest: number; failed: number }> {
  const s = await createServer({ modelDir, port: 0, workers: o.workers, backend: o.backend, queueLimit: 1024, watchIntervalMs: 0, log: () => {}, predictionLog: dataDir ? { dataDir } : undefined });
  let n = 0;
  try {
    const cpu0 = process.cpuUsage();
    const r = await autocannon({
      url: `${s.url}/api/predict`,
      connections: o.connections,
      duration: o.duration,
      requests: [
        {
          method: 'POST',
          headers: { 'content-type': 'image/jpeg' },
          // Bytes after the JPEG's end marker: decoders ignore them, the photo's hash changes.
          setupRequest: (req) => ({ ...req, body: Buffer.concat([image, Buffer.from(`#${++n}`)]) }),
        },
      ],
    });
    const cpu = process.cpuUsage(cpu0);
    return { rps: r.requests.average, cpuMsPerRequest: (cpu.user + cpu.system) / 1000 / Math.max(1, r['2xx']), failed: r.non2xx + r.errors };
  } finally {
    await s.close();
  }
}

let logCompare: { off: number[]; on: number[]; cpuOff: number[]; cpuOn: number[]; errors: number } | null = null;
const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
if (o.logCompare) {
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'bench-log-'));
  try {
    logCompare = { off: [], on: [], cpuOff: [], cpuOn: [], errors: 0 };
    // Pairs alternate which goes first, so a drift in the machine's load does not favour one side.
    const order = Array.from({ length: o.logRounds }, (_, k) => (k % 2 === 0 ? [false, true] : [true, false])).flat();
    for (const [i, withLog] of order.entries()) {
      const r = await loadRun(withLog ? path.join(tmp, `data-${i}`) : undefined);
      (withLog ? logCompare.on : logCompare.off).push(r.rps);
      (withLog ? logCompare.cpuOn : logCompare.cpuOff).push(r.cpuMsPerRequest);
      logCompare.errors += r.failed;
    }
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}

const f = (x: number) => x.toFixed(2).padStart(9);
console.log(`model      ${modelDir} (${c.meta.arch}/${c.meta.mode}, ${c.meta.imgSize}px)`);
console.log(`image      ${imageFile} (${image.length} bytes)`);
console.log(`backend    ${backend.name} (${backend.device}); server workers: ${o.workers}; ${o.connections} connections for ${o.duration}s`);
console.log('');
console.log('bare model (same thread, same image)          ms');
console.log(`  predict p50 / p99                   ${f(bareP50)} ${f(quantile(predictMs, 0.99))}`);
console.log(`  decode + predict p50                ${f(fullP50)}`);
console.log('service over HTTP (loopback)');
console.log(`  requests/s (mean)                   ${f(result.requests.average)}`);
console.log(`  latency p50 / p99                   ${f(result.latency.p50)} ${f(result.latency.p99)}`);
console.log(`  responses 2xx / non-2xx / errors    ${result['2xx']} / ${result.non2xx} / ${result.errors}`);
console.log('overhead');
console.log(`  latency p50 / bare predict p50      ${f(result.latency.p50 / bareP50)} x`);
console.log(`  latency p50 / bare decode+predict   ${f(result.latency.p50 / fullP50)} x`);
console.log(`  requests/s vs bare 1000/predict     ${f(result.requests.average / (1000 / bareP50))} x`);
if (logCompare) {
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const off = mean(logCompare.off);
  const on = mean(logCompare.on);
  const pairs = logCompare.on.map((x, k) => x / logCompare!.off[k]!);
  console.log(`prediction log (${o.connections} connections, ${o.logRounds} pairs of ${o.duration}s runs without/with it, a new photo per request)`);
  console.log(`  requests/s without / with the log    ${f(off)} ${f(on)}   (runs: ${logCompare.off.map((x) => x.toFixed(1)).join(', ')} / ${logCompare.on.map((x) => x.toFixed(1)).join(', ')})`);
  console.log(`  with / without: of the means        ${f(on / off)} x   (cost ${((1 - on / off) * 100).toFixed(1)}%)`);
  console.log(`  with / without: median of pairs     ${f(median(pairs))} x   (pairs: ${pairs.map((x) => x.toFixed(3)).join(', ')})`);
  // CPU time of this process (all threads: HTTP, decode, model workers, load generator) per answered
  // request: on a CPU-bound server throughput is cores / CPU per request, and this figure is far less
  // disturbed than requests/s by other programs loading the machine.
  const cpuOff = median(logCompare.cpuOff);
  const cpuOn = median(logCompare.cpuOn);
  console.log(`  CPU ms per request without / with   ${f(cpuOff)} ${f(cpuOn)}   (+${(((cpuOn - cpuOff) / cpuOff) * 100).toFixed(1)}%; runs: ${logCompare.cpuOff.map((x) => x.toFixed(1)).join(', ')} / ${logCompare.cpuOn.map((x) => x.toFixed(1)).join(', ')})`);
  if (logCompare.errors > 0) process.exitCode = 1;
}
if (result.non2xx > 0 || result.errors > 0) process.exitCode = 1;
