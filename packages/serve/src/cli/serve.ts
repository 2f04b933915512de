import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { BACKEND_NAMES, type BackendName } from '@parts/backend';
import { intAtLeast, missingModelError, num, resolveUserPath, runCli, servedModelDir } from '@parts/cli';
import { createServer, defaultWorkers } from '../server';

const program = new Command('serve')
  .description('Serve the promoted classifier: upload page at /, JSON API at /api/predict')
  .option('--model <dir>', 'model folder or run folder', servedModelDir())
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--port <n>', 'port (0 = any free port)', intAtLeast(0), 8080)
  .option('--max-bytes <n>', 'largest request body in bytes', intAtLeast(1), 10 * 1024 * 1024)
  .option('--max-pixels <n>', 'largest image in pixels (width x height)', intAtLeast(1), 50_000_000)
  .option('--queue <n>', 'requests that may wait for the model before 503', intAtLeast(0), 16)
  .option('--workers <n>', 'model worker threads (0 = main thread)', intAtLeast(0), defaultWorkers())
  .option('--backend <name>', `TensorFlow.js backend: ${BACKEND_NAMES.join(', ')}`, (v: string) => {
    if (!BACKEND_NAMES.includes(v as BackendName)) throw new InvalidArgumentError(`one of ${BACKEND_NAMES.join(', ')}`);
    return v as BackendName;
  }, 'auto' as BackendName)
  .option('--unknown-threshold <x>', "answer unknown below this OOD score (replaces ood.json's threshold)", num)
  .option('--no-unknown', 'plain classification: ignore ood.json (never unknown, uncalibrated probabilities)')
  .option('--explain-max-side <px>', 'longest side of the ?explain=1 overlay', intAtLeast(16), 512)
  .option('--watch-ms <n>', 'poll interval of the model folder for hot swap (0 = off)', intAtLeast(0), 1000)
  .option('--data-dir <dir>', 'prediction log folder (photos, log.sqlite, jobs); default: var/ beside the model folder')
  .option('--keep-days <n>', 'prune unreviewed predictions older than this (reviewed photos are kept)', num)
  .option('--log-max-mb <n>', 'cap on the logged photos in MB; past it the oldest unreviewed go first', num)
  .option('--no-log', 'do not record predictions (no review queue)');

interface ServeOptions {
  model: string; host: string; port: number; maxBytes: number; maxPixels: number;
  queue: number; workers: number; backend: BackendName; watchMs: number;
  unknownThreshold?: number; unknown: boolean; explainMaxSide: number;
  dataDir?: string; keepDays?: number; logMaxMb?: number; log: boolean;
}

// Runs until SIGTERM/SIGINT; the exit status is that of the shutdown.
runCli(
  program,
  async (o: ServeOptions) => {
    const modelDir = resolveUserPath(o.model);
    const missing = missingModelError(modelDir, 'model to serve');
    if (missing) throw missing; // before a backend or worker starts
    for (const [flag, v] of [['--keep-days', o.keepDays], ['--log-max-mb', o.logMaxMb]] as const) {
      if (v !== undefined && !(v > 0)) throw new InvalidArgumentError(`${flag} must be a positive number, got ${v}`);
    }
    const dataDir = o.dataDir ? resolveUserPath(o.dataDir) : path.join(path.dirname(modelDir), 'var');
    const server = await createServer({
      modelDir,
      host: o.host,
      port: o.port,
      maxBytes: o.maxBytes,
      maxPixels: o.maxPixels,
      queueLimit: o.queue,
      workers: o.workers,
      backend: o.backend,
      unknown: { enabled: o.unknown, threshold: o.unknownThreshold },
      explainMaxSide: o.explainMaxSide,
      watchIntervalMs: o.watchMs,
      predictionLog: o.log
        ? { dataDir, keepDays: o.keepDays, maxBytes: o.logMaxMb === undefined ? undefined : Math.round(o.logMaxMb * 1024 * 1024) }
        : undefined,
    });

    const stopped = new Promise<number>((resolve) => {
      let stopping = false;
      for (const sig of ['SIGTERM', 'SIGINT'] as const) {
        process.on(sig, () => {
          if (stopping) return;
          stopping = true;
          console.error(`${sig}: finishing requests in flight, then exiting`);
          server.close().then(
            () => resolve(0),
            (e: Error) => {
              console.error(`shutdown failed: ${e.message}`);
              resolve(1);
            },
          );
        });
      }
    });

    // Printed once the signal handlers are in place: whoever waits for these lines may stop the server.
    const m = server.model();
    if (m) {
      const u = server.unknownDetection()!;
      const unknown = u.active
        ? `unknown below ${u.method} score ${u.threshold}${u.thresholdOverridden ? ' (--unknown-threshold)' : ''}, temperature ${u.temperature.toFixed(3)}`
        : u.reason;
      console.error(o.log ? `prediction log: ${dataDir} (review at ${server.url}/review)` : 'prediction log: off (--no-log)');
      console.error(`serving ${m.id} (${m.arch}/${m.mode}, labels ${m.labels.join(', ')}; ${unknown}) at ${server.url}/`);
    } else {
      // The process stays up so an operator sees why (/readyz); a good promotion is picked up.
      const r = server.refused();
      console.error(
        `model ${r?.id ?? ''} refused: ${r?.reason ?? 'unknown'}\nlistening at ${server.url}/ without a model: /readyz and /api/predict answer 503 with the reason ` +
          `until a model that passes is promoted (${o.watchMs > 0 ? 'picked up automatically' : 'restart serve then'})`,
      );
    }
    return stopped;
  },
  { errorPrefix: 'serve' },
);
