import { Command, InvalidArgumentError } from 'commander';
import type { BackendName } from '@parts/backend';
import { cliArgv, resolveUserPath } from '@parts/data';
import { defaultModelDir } from './paths';
import { createServer, defaultWorkers } from './server';

function int(min: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}, got '${v}'`);
    return n;
  };
}

const BACKENDS: BackendName[] = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'];

const program = new Command('serve')
  .description('Serve the promoted classifier: upload page at /, JSON API at /api/predict')
  .option('--model <dir>', 'model folder or run folder', defaultModelDir())
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--port <n>', 'port (0 = any free port)', int(0), 8080)
  .option('--max-bytes <n>', 'largest request body in bytes', int(1), 10 * 1024 * 1024)
  .option('--max-pixels <n>', 'largest image in pixels (width x height)', int(1), 50_000_000)
  .option('--queue <n>', 'requests that may wait for the model before 503', int(0), 16)
  .option('--workers <n>', 'model worker threads (0 = main thread)', int(0), defaultWorkers())
  .option('--backend <name>', `TensorFlow.js backend: ${BACKENDS.join(', ')}`, (v: string) => {
    if (!BACKENDS.includes(v as BackendName)) throw new InvalidArgumentError(`one of ${BACKENDS.join(', ')}`);
    return v as BackendName;
  }, 'auto' as BackendName)
  .option('--watch-ms <n>', 'poll interval of the model folder for hot swap (0 = off)', int(0), 1000)
  .parse(cliArgv());

const o = program.opts<{
  model: string; host: string; port: number; maxBytes: number; maxPixels: number;
  queue: number; workers: number; backend: BackendName; watchMs: number;
}>();

const server = await createServer({
  modelDir: resolveUserPath(o.model),
  host: o.host,
  port: o.port,
  maxBytes: o.maxBytes,
  maxPixels: o.maxPixels,
  queueLimit: o.queue,
  workers: o.workers,
  backend: o.backend,
  watchIntervalMs: o.watchMs,
}).catch((e: Error) => {
  console.error(`serve: ${e.message}`);
  process.exit(1);
});

const m = server.model()!;
console.error(`serving ${m.id} (${m.arch}/${m.mode}, labels ${m.labels.join(', ')}) at ${server.url}/`);

let stopping = false;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    console.error(`${sig}: finishing requests in flight, then exiting`);
    server.close().then(
      () => process.exit(0),
      (e: Error) => {
        console.error(`shutdown failed: ${e.message}`);
        process.exit(1);
      },
    );
  });
}
