import { promises as fsp } from 'node:fs';
import path from 'node:path';
import autocannon from 'autocannon';
import { Command } from 'commander';
import { initBackend, type BackendName } from '@parts/backend';
import { decodeImage } from '@parts/data';
import { addSettingOptions, BENCH_SERVE_SETTINGS, cliArgv, repoRoot, resolveUserPath, servedModelDir } from '@parts/cli';
import { classify, disposeClassifier, loadClassifier } from '@parts/models';
import { createServer, defaultWorkers } from '../server';

/**
 * `pnpm bench:serve`: a bounded load run against the service on loopback with one image,
 * beside the bare model's predict time for the same image, so the service's overhead
 * (HTTP, upload, decode, queueing) reads as a ratio.
 */

const o = addSettingOptions(
  new Command('bench:serve')
    .description('Load-test the prediction service on loopback and compare with the bare model'),
  BENCH_SERVE_SETTINGS,
  { defaults: { model: servedModelDir(), image: path.resolve(repoRoot(), '../shared/datasets/parts/test/big/m12_bolt_03.jpg'), workers: defaultWorkers() } },
)
  .parse(cliArgv())
  .opts<{ model: string; image: string; duration: number; connections: number; workers: number; backend: BackendName; iterations: number }>();

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
if (result.non2xx > 0 || result.errors > 0) process.exitCode = 1;
