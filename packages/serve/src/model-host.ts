import { readParity, type ParityCheck } from '@parts/models';
import { Engine, type EngineOptions, type EngineStats } from './engine';
import { modelSignature, removeSnapshot, snapshotModel, type Snapshot } from './model-source';

/**
 * Holds the engine of the model being served and replaces it when the model folder
 * changes (promotion). A swap loads and warms the new model completely before new requests
 * go to it; requests already holding the old engine finish on it, then it is closed.
 */

/** The engine's options (workers, backend, engine, threads, batching, restarts, unknown detection) for every model loaded. */
export interface ModelHostOptions extends Pick<EngineOptions, 'workers' | 'backend' | 'engine' | 'threads' | 'maxBatch' | 'restart' | 'unknown'> {
  /** The resolved model folder to serve and watch. */
  modelDir: string;
  /** How often the folder is checked for a new model; 0 disables watching. */
  watchIntervalMs: number;
  log: (msg: string) => void;
}

export interface SwapEvent {
  from: string;
  to: string;
}

/** The parity check of the model in service, as /api/model reports it (null: the folder has no record). */
export type ParityReport = Omit<ParityCheck, 'reason'>;

/** A model that was refused: it failed to load, or its parity check failed. */
export interface RefusedModel {
  /** Its id (runId, else sha-…) and the sha256 of its files. */
  id: string;
  sha256: string;
  reason: string;
  /** The failed parity check; null when the model did not get that far (failed to load, unreadable record). */
  parity: ParityCheck | null;
  at: string;
}

/** Why a model folder without parity.json is served anyway (models promoted before parity records). */
export const NO_PARITY_NOTE =
  'no parity.json in the model folder (promoted before parity records existed): served without checking that it answers like the evaluated model; promote the run again to add one';

class Refusal extends Error {
  constructor(
    message: string,
    readonly parity: ParityCheck | null,
  ) {
    super(message);
  }
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
  private started = false;
  private parityOf = new WeakMap<Engine, ParityReport | null>();
  private refusal: RefusedModel | null = null;
  private readonly swapListeners: ((e: SwapEvent) => void)[] = [];

  constructor(private readonly opts: ModelHostOptions) {}

  /**
   * Loads the initial model. Rejects only when the folder cannot be read as a model (missing,
   * empty, invalid classifier.json). A model that fails to load or fails its parity check is
   * refused instead: the host starts without a model (ready false, `refused` says why) and keeps
   * watching the folder, so a good promotion is picked up.
   */
  async start(): Promise<void> {
    const snap = await snapshotModel(this.opts.modelDir);
    this.started = true;
    this.seen = snap.signature;
    try {
      const { engine, parity } = await this.admit(snap);
      this.engine = engine;
      this.opts.log(`model ${snap.info.id} (${snap.info.arch}/${snap.info.mode}) ready on ${engine.engine.detail} (${engine.engine.reason}); ${describeParity(parity)}`);
    } catch (e) {
      this.refuse(snap, e as Error);
      this.opts.log(`model ${snap.info.id} in ${this.opts.modelDir} refused, not serving: ${(e as Error).message}`);
    }
    if (this.opts.watchIntervalMs > 0) {
      // A watch tick must never become an unhandled rejection (it would take the server down).
      this.timer = setInterval(() => void this.poll().catch((e: Error) => this.opts.log(`watching ${this.opts.modelDir} failed: ${e.message}`)), this.opts.watchIntervalMs);
      this.timer.unref();
    }
  }

  /**
   * Opens an engine on the snapshot and checks its parity record on that engine's own slots (the
   * backend that will serve). Throws (a Refusal for a failed check) and frees everything if the
   * model cannot be served; the snapshot is removed then too.
   */
  private async admit(snap: Snapshot): Promise<{ engine: Engine; parity: ParityReport | null }> {
    let engine: Engine | null = null;
    try {
      let read: Awaited<ReturnType<typeof readParity>>;
      try {
        read = await readParity(snap.dir);
      } catch (e) {
        throw new Refusal(`its parity record cannot be used: ${(e as Error).message}`, null);
      }
      engine = await Engine.open(snap, this.engineOptions());
      let parity: ParityReport | null = null;
      if (read) {
        const check = await engine.checkParity(read.record, read.photos);
        if (!check.ok) throw new Refusal(`parity check failed: ${check.reason}`, check);
        const { reason: _r, ...report } = check;
        parity = report;
      }
      this.parityOf.set(engine, parity);
      return { engine, parity };
    } catch (e) {
      if (engine) await engine.close();
      await removeSnapshot(snap);
      throw e;
    }
  }

  private refuse(snap: Snapshot, e: Error): void {
    this.failedSignature = snap.signature;
    this.refusal = {
      id: snap.info.id,
      sha256: snap.info.sha256,
      reason: e.message,
      parity: e instanceof Refusal ? e.parity : null,
      at: new Date().toISOString(),
    };
  }

  /** The last model refused (at start-up, or as a hot-swap candidate); null once a later one was accepted. */
  get refused(): RefusedModel | null {
    return this.refusal;
  }

  /** The parity check of the model in service; null when its folder has no parity record (see NO_PARITY_NOTE). */
  get parity(): ParityReport | null {
    return this.engine ? (this.parityOf.get(this.engine) ?? null) : null;
  }

  /** Why there is no model to answer with: refused (and why), or not loaded yet. */
  get notReadyReason(): string {
    if (this.closed) return 'shutting down';
    if (!this.engine && this.refusal) return `model ${this.refusal.id} was refused: ${this.refusal.reason}`;
    return 'model not loaded yet';
  }

  private engineOptions() {
    const { workers, backend, engine, threads, maxBatch, restart, unknown, log } = this.opts;
    return { workers, backend, engine, threads, maxBatch, restart, unknown, sourceDir: this.opts.modelDir, log };
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
    if (this.closed || this.polling || !this.started) return;
    this.polling = true; // ticks must not overlap: two could both decide to swap
    try {
      const sig = await modelSignature(this.opts.modelDir);
      // close() may have run while the folder was read.
      const engine = this.engine;
      if (this.closed) return;
      if (sig === null || sig === '' || sig === engine?.snapshot.signature || sig === this.failedSignature) {
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

  /**
   * Loads the folder's current model, checks its parity on the new engine and switches to it; on
   * failure keeps the old one serving and records the refused candidate (see `refused`).
   */
  async swap(): Promise<void> {
    const old = this.engine;
    let next: Engine;
    let parity: ParityReport | null;
    let snap: Snapshot;
    try {
      snap = await snapshotModel(this.opts.modelDir);
    } catch (e) {
      this.opts.log(`new model in ${this.opts.modelDir} not loaded, still serving ${old?.info.id ?? 'nothing'}: ${(e as Error).message}`);
      return;
    }
    try {
      ({ engine: next, parity } = await this.admit(snap));
    } catch (e) {
      this.refuse(snap, e as Error);
      this.opts.log(`new model ${snap.info.id} in ${this.opts.modelDir} refused, still serving ${old?.info.id ?? 'nothing'}: ${(e as Error).message}`);
      return;
    }
    if (this.closed) {
      await next.close();
      await removeSnapshot(next.snapshot);
      return;
    }
    this.engine = next;
    this.failedSignature = null;
    this.refusal = null;
    this.opts.log(`switched model ${old?.info.id ?? '(none)'} -> ${next.info.id}; ${describeParity(parity)}`);
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

function describeParity(p: ParityReport | null): string {
  if (!p) return 'parity not checked (no parity.json)';
  return `parity ok on ${p.photos} photo(s), max |dp| ${p.maxAbsDiff.toExponential(1)} <= ${p.tolerance} (${p.backend}; recorded on ${p.recordBackend})`;
}
