// A fleet on loopback: N `pnpm serve` replicas on free ports, nginx in front of them (the example
// configuration) and, when asked, Prometheus scraping each replica. Used by the fleet test and by
// `pnpm bench:fleet`; every process is its own process group and stop() ends them all.
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot, SERVE_SETTINGS } from '@parts/cli';
import { startNginx, type NginxHandle } from './nginx';
import { freePort, spawnGroup, waitUntil, type GroupProcess } from './processes';
import { startPrometheus, type PrometheusHandle } from './prometheus';

const SERVE_CLI = fileURLToPath(new URL('../cli/serve.ts', import.meta.url));

export interface Replica {
  index: number;
  port: number;
  /** host:port, as nginx's upstream and Prometheus's instance label name it. */
  address: string;
  url: string;
  /** Its data folder (--data-dir: the SQLite log, or with --db the local caches), or null with --no-log. */
  dataDir: string | null;
  /** The process now running (a new one after restart()). */
  process(): GroupProcess;
  /** SIGKILL to its process group: no drain, requests in flight are cut. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data folder, and waits until /readyz answers 200. */
  restart(): Promise<void>;
  /** SIGTERM (drain) and wait for the exit. */
  stop(): Promise<void>;
}

export interface FleetOptions {
  modelDir: string;
  replicas: number;
  /** Folder for the replicas' logs, nginx's prefix and Prometheus's data; default a new temporary folder, removed by stop(). */
  workDir?: string;
  /** Each replica its own prediction log in <workDir>/replica-<i> (default true); false = --no-log. */
  log?: boolean;
  /** One PostgreSQL database (postgres://…) for every replica's log, photos and model registry (--db); <workDir>/replica-<i> then holds only local caches. */
  db?: string;
  /** More `pnpm serve` flags for every replica (e.g. --workers 0 --backend cpu). */
  serveArgs?: string[];
  /** Put nginx in front (default true). */
  nginx?: boolean;
  /** nginx adds X-Upstream-Addr naming the replica that answered (tests). */
  exposeUpstream?: boolean;
  /** Start Prometheus scraping every replica at this interval in seconds. */
  prometheus?: { scrapeIntervalS: number };
  /** Progress lines. */
  progress?: (msg: string) => void;
}

export interface Fleet {
  /** nginx's address, or the first replica's without nginx. */
  url: string;
  replicas: Replica[];
  nginx: NginxHandle | null;
  prometheus: PrometheusHandle | null;
  workDir: string;
  stop(): Promise<void>;
}

async function ready(url: string): Promise<boolean> {
  return (await fetch(`${url}/readyz`)).status === 200;
}

export async function startFleet(o: FleetOptions): Promise<Fleet> {
  if (!(Number.isInteger(o.replicas) && o.replicas >= 1)) throw new RangeError(`replicas must be an integer >= 1, got ${o.replicas}`);
  const ownDir = !o.workDir;
  const workDir = o.workDir ?? (await fsp.mkdtemp(path.join(os.tmpdir(), 'parts-fleet-')));
  const say = o.progress ?? (() => {});
  const replicas: Replica[] = [];
  let nginx: NginxHandle | null = null;
  let prometheus: PrometheusHandle | null = null;

  const stop = async () => {
    await Promise.all([nginx?.stop(), prometheus?.stop(), ...replicas.map((r) => r.stop())]);
    if (ownDir) await fsp.rm(workDir, { recursive: true, force: true });
  };

  try {
    // Where serve has access control, a loopback peer that sends X-Forwarded-For counts as this machine
    // only when it is a trusted proxy: nginx connects from 127.0.0.1.
    const trustNginx = o.nginx !== false && 'trustProxy' in SERVE_SETTINGS ? ['--trust-proxy', '127.0.0.1'] : [];
    for (let i = 0; i < o.replicas; i++) {
      const port = await freePort();
      const dataDir = o.log === false ? null : path.join(workDir, `replica-${i}`);
      const args = ['--import', 'tsx', SERVE_CLI, '--model', o.modelDir, '--host', '127.0.0.1', '--port', String(port), ...(dataDir ? ['--data-dir', dataDir] : ['--no-log']), ...(o.db ? ['--db', o.db] : []), ...trustNginx, ...(o.serveArgs ?? [])];
      const url = `http://127.0.0.1:${port}`;
      let proc: GroupProcess;
      const launch = () => {
        proc = spawnGroup(`replica ${i} (port ${port})`, process.execPath, args, { cwd: repoRoot() });
        return proc;
      };
      launch();
      const r: Replica = {
        index: i,
        port,
        address: `127.0.0.1:${port}`,
        url,
        dataDir,
        process: () => proc,
        async kill() {
          proc.signal('SIGKILL');
          await proc.exited;
        },
        async restart() {
          if (!proc.done) throw new Error(`replica ${i} is still running`);
          await waitUntil(`replica ${i} ready again`, () => ready(url), { proc: launch() });
        },
        stop: () => proc.stop(30_000),
      };
      replicas.push(r);
    }
    // Started together, waited for together: the start-ups (tsx, the backend, the model) overlap.
    await Promise.all(replicas.map((r) => waitUntil(`replica ${r.index} ready`, () => ready(r.url), { proc: r.process() })));
    say(`fleet: ${replicas.length} replica(s) ready: ${replicas.map((r) => r.address).join(', ')}`);
    if (o.nginx !== false) {
      nginx = await startNginx({ prefix: path.join(workDir, 'nginx'), port: await freePort(), replicas: replicas.map((r) => r.address), exposeUpstream: o.exposeUpstream });
      say(`fleet: nginx at ${nginx.url}`);
    }
    if (o.prometheus) {
      prometheus = await startPrometheus({ dir: path.join(workDir, 'prometheus'), port: await freePort(), targets: replicas.map((r) => r.address), scrapeIntervalS: o.prometheus.scrapeIntervalS });
      say(`fleet: Prometheus at ${prometheus.url}`);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { url: nginx?.url ?? replicas[0]!.url, replicas, nginx, prometheus, workDir, stop };
}
