import path from 'node:path';
import { Command } from 'commander';
import { type BackendName } from '@parts/backend';
import { addSettingOptions, missingModelError, resolveUserPath, runCli, SERVE_SETTINGS, servedModelDir } from '@parts/cli';
import { createServer, defaultWorkers } from '../server';
import { resolveModelDir } from '../model-source';
import { checkDatabaseUrl, redactUrl } from '../log/db';
import type { EngineRequest } from '@parts/models';

const program = addSettingOptions(
  new Command('serve')
    .description('Serve the promoted classifier: upload page at /, JSON API at /api/predict'),
  SERVE_SETTINGS, { defaults: { model: servedModelDir(), workers: defaultWorkers() } }
);

interface ServeOptions {
  model: string; host: string; port: number; maxBytes: number; maxPixels: number;
  queue: number; workers: number; backend: BackendName; watchMs: number; engine: EngineRequest; threads?: number;
  unknownThreshold?: number; unknown: boolean; explainMaxSide: number;
  driftWindow: number; driftP: number;
  dataDir?: string; keepDays?: number; logMaxMb?: number; log: boolean;
  db?: string; dbPoll: number; modelCache?: string;
}

// Runs until SIGTERM/SIGINT, then drains: /readyz answers 503 and the listener closes (a load
// balancer's next connection is refused and goes to another replica), the requests in flight are
// answered and logged, the model and the log database are closed, exit 0. A second signal exits at once.
runCli(
  program,
  async (o: ServeOptions) => {
    const modelDir = resolveUserPath(o.model);
    if (o.db) checkDatabaseUrl(o.db);
    const missing = missingModelError(modelDir, 'model to serve');
    // With --db the model comes from the registry; the local folder is only the fallback.
    if (missing && !o.db) throw missing; // before a backend or worker starts
    // Beside the model folder itself (for a run folder: inside the run, never a folder of runs/).
    const dataDir = o.dataDir
      ? resolveUserPath(o.dataDir)
      : path.join(path.dirname(missing ? path.resolve(modelDir) : await resolveModelDir(modelDir)), 'var');
    const server = await createServer({
      modelDir,
      host: o.host,
      port: o.port,
      maxBytes: o.maxBytes,
      maxPixels: o.maxPixels,
      queueLimit: o.queue,
      workers: o.workers,
      backend: o.backend,
      engine: o.engine,
      threads: o.threads,
      unknown: { enabled: o.unknown, threshold: o.unknownThreshold },
      explainMaxSide: o.explainMaxSide,
      watchIntervalMs: o.watchMs,
      drift: { window: o.driftWindow, pValue: o.driftP },
      predictionLog: o.log
        ? { dataDir, db: o.db, keepDays: o.keepDays, maxBytes: o.logMaxMb === undefined ? undefined : Math.round(o.logMaxMb * 1024 * 1024) }
        : undefined,
      registry: o.db ? { url: o.db, cacheDir: o.modelCache ? resolveUserPath(o.modelCache) : path.join(dataDir, 'models'), pollMs: o.dbPoll * 1000 } : undefined,
    });

    const stopped = new Promise<number>((resolve) => {
      let stopping = false;
      for (const sig of ['SIGTERM', 'SIGINT'] as const) {
        process.on(sig, () => {
          // A second signal: the operator does not want to wait for the requests in flight.
          if (stopping) {
            console.error(`${sig} again: exiting now, without finishing the requests in flight`);
            process.exit(1);
          }
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
      const e = server.engine()!;
      console.error(`engine: ${e.detail} (${e.reason})`);
      const where = o.db ? `${redactUrl(o.db)} (photos in the database; local cache ${dataDir})` : dataDir;
      console.error(o.log ? `prediction log: ${where} (review at ${server.url}/review)` : 'prediction log: off (--no-log)');
      console.error(`serving ${m.id} (${m.arch}/${m.mode}, labels ${m.labels.join(', ')}; ${unknown}) at ${server.url}/`);
    } else {
      // The process stays up so an operator sees why (/readyz); a good promotion is picked up.
      const r = server.refused();
      console.error(
        `model ${r?.id ?? ''} refused: ${r?.reason ?? 'unknown'}\nlistening at ${server.url}/ without a model: /readyz and /api/predict answer 503 with the reason ` +
          `until a model that passes is promoted (${o.db ? 'in the registry of --db: picked up automatically' : o.watchMs > 0 ? 'picked up automatically' : 'restart serve then'})`,
      );
    }
    return stopped;
  },
  { errorPrefix: 'serve' },
);
