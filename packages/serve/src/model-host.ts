import type { BackendName } from '@parts/backend';
import type { UnknownOptions } from '@parts/models';
import { Engine, type EngineStats, type RestartPolicy } from './engine';
import { modelSignature, removeSnapshot, snapshotModel } from './model-source';

/**
 * Holds the engine of the model being served and replaces it when the model folder
 * changes (promotion). A swap loads and warms the new model completely before new requests
 * go to it; requests already holding the old engine finish on it, then it is closed.
 */

export interface ModelHostOptions {
  /** The resolved model folder to serve and watch. */
  modelDir: string;
  workers: number;
  backend: BackendName;
  maxBatch: number;
  /** How dead worker threads are replaced (see RestartPolicy). */
  restart?: Partial<RestartPolicy>;
  /** Unknown detection of every model loaded (ood.json off, or its threshold replaced). */
  unknown?: UnknownOptions;
  /** How often the folder is checked for a new model; 0 disables watching. */
  watchIntervalMs: number;
  log: (msg: string) => void;
}

export interface SwapEvent {
  from: string;
  to: string;
}

export class ModelHost {
  private engine: Engine | null = null;
  private readonly users = new Map<Engine, number>();
  private readonly retiring = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private seen: string | null = null;
  private failedSignature: string | null = null;
  private swapping: Promise<void> | null = null;
  private polling = false;
  private closed = false;
  private readonly swapListeners: ((e: SwapEvent) => void)[] = [];

  constructor(private readonly opts: ModelHostOptions) {}

  /** Loads the initial model; rejects if it cannot be served. */
  async start(): Promise<void> {
    const snap = await snapshotModel(this.opts.modelDir);
    try {
      this.engine = await Engine.open(snap, this.engineOptions());
    } catch (e) {
      await removeSnapshot(snap);
      throw e;
    }
    this.seen = snap.signature;
    this.opts.log(`model ${snap.info.id} (${snap.info.arch}/${snap.info.mode}) ready on ${this.describeSlots()}`);
    if (this.opts.watchIntervalMs > 0) {
      // A watch tick must never become an unhandled rejection (it would take the server down).
      this.timer = setInterval(() => void this.poll().catch((e: Error) => this.opts.log(`watching ${this.opts.modelDir} failed: ${e.message}`)), this.opts.watchIntervalMs);
      this.timer.unref();
    }
  }

  private engineOptions() {
    const { workers, backend, maxBatch, restart, unknown, log } = this.opts;
    return { workers, backend, maxBatch, restart, unknown, sourceDir: this.opts.modelDir, log };
  }

  private describeSlots(): string {
    return this.opts.workers > 0 ? `${this.opts.workers} worker thread(s)` : 'the main thread';
  }

  get current(): Engine | null {
    return this.engine;
  }

  get ready(): boolean {
    return this.engine !== null && !this.closed;
  }

  onSwap(fn: (e: SwapEvent) => void): void {
    this.swapListeners.push(fn);
  }

  /**
   * Runs fn with the current engine, keeping that engine open until fn settles even if a
   * swap happens meanwhile.
   */
  async use<T>(fn: (engine: Engine) => Promise<T>): Promise<T> {
    const engine = this.engine;
    if (!engine) throw new Error('no model loaded');
    this.users.set(engine, (this.users.get(engine) ?? 0) + 1);
    try {
      return await fn(engine);
    } finally {
      const n = this.users.get(engine)! - 1;
      if (n > 0) {
        this.users.set(engine, n);
      } else {
        this.users.delete(engine);
        for (const w of this.idleWaiters.get(engine) ?? []) w();
        this.idleWaiters.delete(engine);
      }
    }
  }

  private readonly idleWaiters = new Map<Engine, (() => void)[]>();

  /** Resolves when no request holds this engine any more. */
  private idle(engine: Engine): Promise<void> {
    if (!this.users.has(engine)) return Promise.resolve();
    return new Promise((resolve) => {
      this.idleWaiters.set(engine, [...(this.idleWaiters.get(engine) ?? []), resolve]);
    });
  }

  /**
   * One watch tick: a changed folder is loaded once its signature has been the same for
   * two ticks in a row (so a promotion that is still writing is not picked up half-done).
   */
  async poll(): Promise<void> {
    if (this.closed || this.polling || !this.engine) return;
    this.polling = true; // ticks must not overlap: two could both decide to swap
    try {
      const sig = await modelSignature(this.opts.modelDir);
      // close() may have run while the folder was read.
      const engine = this.engine;
      if (this.closed || !engine) return;
      if (sig === null || sig === '' || sig === engine.snapshot.signature || sig === this.failedSignature) {
        this.seen = sig;
        return;
      }
      if (sig !== this.seen) {
        this.seen = sig;
        return;
      }
      this.swapping = this.swap();
      await this.swapping;
    } finally {
      this.swapping = null;
      this.polling = false;
    }
  }

  /** Loads the folder's current model and switches to it; keeps the old one on failure. */
  async swap(): Promise<void> {
    const old = this.engine;
    let next: Engine;
    try {
      const snap = await snapshotModel(this.opts.modelDir);
      try {
        next = await Engine.open(snap, this.engineOptions());
      } catch (e) {
        await removeSnapshot(snap);
        this.failedSignature = snap.signature;
        throw e;
      }
    } catch (e) {
      this.opts.log(`new model in ${this.opts.modelDir} not loaded, still serving ${old?.info.id}: ${(e as Error).message}`);
      return;
    }
    if (this.closed) {
      await next.close();
      await removeSnapshot(next.snapshot);
      return;
    }
    this.engine = next;
    this.failedSignature = null;
    this.opts.log(`switched model ${old?.info.id} -> ${next.info.id}`);
    for (const fn of this.swapListeners) fn({ from: old?.info.id ?? '', to: next.info.id });
    if (old) this.retire(old);
  }

  private retire(engine: Engine): void {
    const p = (async () => {
      await this.idle(engine);
      await engine.close();
      await removeSnapshot(engine.snapshot);
    })().catch((e) => this.opts.log(`closing old model failed: ${(e as Error).message}`));
    this.retiring.add(p);
    void p.finally(() => this.retiring.delete(p));
  }

  async stats(): Promise<EngineStats | null> {
    return this.engine ? this.engine.stats() : null;
  }

  /** Stops watching, lets every request finish, frees all models. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.swapping;
    if (this.engine) this.retire(this.engine);
    this.engine = null;
    await Promise.all([...this.retiring]);
  }
}
