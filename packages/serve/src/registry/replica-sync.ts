// A server started with --db serves the model the registry names (its latest promotions row), not
// a folder of its own disk: the model is materialised from the database into a local cache
// (<cache>/<hash>/), copied into <cache>/current (staged, then renamed), and the model host loads
// that folder, checks its parity record on its own slots and swaps. The server learns of a
// promotion or rollback from PostgreSQL's LISTEN/NOTIFY on a dedicated connection, and polls the
// registry as well (a notification sent while the connection was down is never redelivered).
// A model that fails (to load, or its parity check) is refused on this server: the folder goes
// back to the model in service, which keeps serving, and the refusal is logged, written to
// model_refusals and shown by the parts_model_refused metric; this server does not try that model
// again until the registry names another one.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { openPostgresDatabase, redactUrl } from '../log/db';
import type { LogDatabase } from '../log/schema';
import type { ModelHost } from '../model-host';
import { resolveModelDir } from '../model-source';
import { currentPromotion, materialiseModel, MODEL_CHANNEL, recordRefusal, type Promotion } from './model-registry';

export interface ReplicaSyncOptions {
  /** The shared database (postgres://). */
  url: string;
  /** Local folder of materialised models; the served copy is <cacheDir>/current. */
  cacheDir: string;
  /** The local model folder, served when the registry holds no promotion yet. */
  localModelDir?: string;
  /** Poll interval of the registry, ms. */
  pollMs: number;
  /** Follow LISTEN/NOTIFY besides polling. Default true (false: polling alone). */
  notify?: boolean;
  /** This server, as refusal rows name it. */
  replica: () => string;
  log: (msg: string) => void;
}

/** What this server serves by the registry, for /api/model and tests. */
export interface ReplicaSyncStatus {
  /** Registry hash of the model in service here (null: the local folder, the registry being empty). */
  servedHash: string | null;
  /** The registry's current model (null: nothing promoted). */
  registryHash: string | null;
  /** The last model refused here, by hash. */
  refusedHash: string | null;
  listening: boolean;
  checks: number;
  lastError: string | null;
}

async function exists(p: string): Promise<boolean> {
  return fsp.stat(p).then(
    () => true,
    () => false,
  );
}

/** A copy of `src` put at `dest` by renames; commit() drops the folder it replaced, revert() puts it back. */
async function install(src: string, dest: string): Promise<{ commit(): Promise<void>; revert(): Promise<void> }> {
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const staged = `${dest}.tmp-${tag}`;
  const old = `${dest}.old-${tag}`;
  try {
    await fsp.cp(src, staged, { recursive: true });
  } catch (e) {
    await fsp.rm(staged, { recursive: true, force: true });
    throw e;
  }
  const had = await exists(dest);
  if (had) await fsp.rename(dest, old);
  try {
    await fsp.rename(staged, dest);
  } catch (e) {
    if (had) await fsp.rename(old, dest);
    await fsp.rm(staged, { recursive: true, force: true });
    throw e;
  }
  return {
    commit: async () => {
      if (had) await fsp.rm(old, { recursive: true, force: true });
    },
    revert: async () => {
      const aside = `${dest}.refused-${tag}`;
      await fsp.rename(dest, aside);
      if (had) await fsp.rename(old, dest);
      await fsp.rm(aside, { recursive: true, force: true });
    },
  };
}

export class ReplicaModelSync {
  readonly servedDir: string;
  private host: ModelHost | null = null;
  private listener: pg.Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private reconnect: NodeJS.Timeout | null = null;
  private reconnectMs = 1000;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private servedHash: string | null = null;
  private registryHash: string | null = null;
  private refusedHash: string | null = null;
  private checks = 0;
  private lastError: string | null = null;
  private readonly shown: string;

  private constructor(
    private readonly db: Kysely<LogDatabase>,
    private readonly o: ReplicaSyncOptions,
  ) {
    this.servedDir = path.join(path.resolve(o.cacheDir), 'current');
    this.shown = redactUrl(o.url);
  }

  /**
   * Opens the registry and puts the model to serve at `servedDir`: the registry's current model,
   * else the local model folder, else what the cache served last. Throws when there is none.
   */
  static async prepare(o: ReplicaSyncOptions): Promise<ReplicaModelSync> {
    const { db } = await openPostgresDatabase(o.url, { poolSize: 2 });
    const sync = new ReplicaModelSync(db, o);
    try {
      await fsp.mkdir(path.resolve(o.cacheDir), { recursive: true });
      await sync.sweepCache();
      const cur = await currentPromotion(db);
      if (cur) {
        const dir = await materialiseModel(db, cur.modelHash, o.cacheDir);
        await (await install(dir, sync.servedDir)).commit();
        sync.servedHash = sync.registryHash = cur.modelHash;
        o.log(`model registry ${sync.shown}: serving ${cur.runId} (${cur.modelHash.slice(0, 12)}, ${cur.action} by ${cur.actor} at ${cur.at})`);
      } else if (o.localModelDir && (await exists(o.localModelDir))) {
        await (await install(await resolveModelDir(o.localModelDir), sync.servedDir)).commit();
        o.log(`model registry ${sync.shown} holds no promoted model yet: serving the local folder ${o.localModelDir} until one is promoted (pnpm promote --db)`);
      } else if (!(await exists(sync.servedDir))) {
        throw new Error(
          `the model registry at ${sync.shown} holds no promoted model and there is no local model folder${o.localModelDir ? ` at ${o.localModelDir}` : ''}: promote one with \`pnpm promote --run DIR --db URL\``,
        );
      }
    } catch (e) {
      await db.destroy();
      throw e;
    }
    return sync;
  }

  /**
   * Removes what a killed process left in the cache (staged, replaced or refused folders) and the
   * copies of models no longer served here (the database still has them).
   */
  private async sweepCache(): Promise<void> {
    const root = path.resolve(this.o.cacheDir);
    for (const n of await fsp.readdir(root).catch(() => [] as string[])) {
      const leftover = /\.(tmp|old|refused)-\d+-[0-9a-f]+$/.test(n);
      const oldModel = /^[0-9a-f]{64}$/.test(n) && n !== this.servedHash;
      if (leftover || oldModel) await fsp.rm(path.join(root, n), { recursive: true, force: true }).catch(() => {});
    }
  }

  status(): ReplicaSyncStatus {
    return { servedHash: this.servedHash, registryHash: this.registryHash, refusedHash: this.refusedHash, listening: this.listener !== null, checks: this.checks, lastError: this.lastError };
  }

  /** Starts following the registry for `host`, which serves `servedDir` and has started. */
  async attach(host: ModelHost): Promise<void> {
    this.host = host;
    if (!host.ready && host.refused && this.servedHash) {
      // Refused at start-up: nothing older to keep serving; recorded so the operator sees it.
      this.refusedHash = this.servedHash;
      await this.report(this.servedHash, host.refused.id, host.refused.reason, host.refused.parity);
    }
    this.timer = setInterval(() => void this.check(), this.o.pollMs);
    this.timer.unref();
    if (this.o.notify !== false) await this.listen();
    else await this.check();
  }

  private async listen(): Promise<void> {
    if (this.closed) return;
    // A dedicated connection (not one of the query pool's): LISTEN lasts as long as its session.
    const c = new pg.Client({ connectionString: this.o.url, connectionTimeoutMillis: 10_000 });
    let down = false;
    const lost = (why: string) => {
      if (down) return;
      down = true;
      if (this.listener === c) this.listener = null;
      void c.end().catch(() => {});
      if (this.closed) return;
      this.noteError(`registry notifications lost (${why}); polling every ${this.o.pollMs / 1000} s meanwhile and reconnecting`);
      this.scheduleListen();
    };
    c.on('error', (e) => lost(e.message));
    c.on('end', () => lost('connection closed'));
    c.on('notification', () => void this.check());
    try {
      await c.connect();
      await c.query(`LISTEN ${MODEL_CHANNEL}`);
    } catch (e) {
      lost(`LISTEN ${MODEL_CHANNEL} failed: ${(e as Error).message}`);
      return;
    }
    if (this.closed) {
      down = true;
      await c.end().catch(() => {});
      return;
    }
    this.reconnectMs = 1000;
    this.listener = c;
    // A promotion made while nobody listened is only seen by reading the registry.
    await this.check();
  }

  private scheduleListen(): void {
    if (this.closed || this.reconnect) return;
    this.reconnect = setTimeout(() => {
      this.reconnect = null;
      void this.listen();
    }, this.reconnectMs);
    this.reconnect.unref();
    this.reconnectMs = Math.min(30_000, this.reconnectMs * 2);
  }

  private noteError(msg: string): void {
    this.lastError = msg;
    this.o.log(msg);
  }

  /** Reads the registry and swaps to its model when it changed; checks never overlap. Never throws. */
  check(): Promise<void> {
    const run = () => this.checkOnce().catch((e: Error) => this.noteError(`model registry ${this.shown}: ${e.message}`));
    this.chain = this.chain.then(run, run);
    return this.chain;
  }

  private async checkOnce(): Promise<void> {
    if (this.closed || !this.host) return;
    this.checks++;
    const cur: Promotion | null = await currentPromotion(this.db);
    this.registryHash = cur?.modelHash ?? null;
    if (!cur || cur.modelHash === this.servedHash || cur.modelHash === this.refusedHash) return;
    const host = this.host;
    const dir = await materialiseModel(this.db, cur.modelHash, this.o.cacheDir);
    if (this.closed) return;
    const installed = await install(dir, this.servedDir);
    const before = host.current;
    await host.swap();
    if (host.current && host.current !== before) {
      // Said before anything else is awaited: the new model answers from this moment.
      this.servedHash = cur.modelHash;
      this.refusedHash = null;
      await installed.commit();
      await this.sweepCache();
      this.o.log(`model registry: now serving ${cur.runId} (${cur.modelHash.slice(0, 12)}; ${cur.action} by ${cur.actor}${cur.note ? `: ${cur.note}` : ''})`);
      return;
    }
    // Refused here: the folder goes back to the model still in service.
    this.refusedHash = cur.modelHash;
    await installed.revert();
    const r = host.refused;
    const reason = r?.reason ?? 'the model could not be loaded';
    this.o.log(`model registry: ${cur.runId} (${cur.modelHash.slice(0, 12)}) refused on this server, still serving ${before?.info.id ?? 'nothing'}: ${reason}`);
    await this.report(cur.modelHash, cur.runId, reason, r?.parity ?? null);
  }

  private async report(hash: string, runId: string | null, reason: string, parity: unknown): Promise<void> {
    await recordRefusal(this.db, { replica: this.o.replica(), modelHash: hash, runId, reason, parity }).catch((e: Error) =>
      this.noteError(`the refusal of ${hash.slice(0, 12)} could not be written to model_refusals: ${e.message}`),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.reconnect) clearTimeout(this.reconnect);
    const l = this.listener;
    this.listener = null;
    await l?.end().catch(() => {});
    await this.chain;
    await this.db.destroy();
  }
}
