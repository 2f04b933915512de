import type { BackendName } from '@parts/backend';
import type { RawImage } from '@parts/data';
import { chooseEngine, type EngineInfo, type EngineRequest, type OodDecision, type OodSummary, type ParityCheck, type ParityRecord, type UnknownOptions } from '@parts/models';
import { HttpError } from './errors';
import { takeBatch } from './job-batch';
import { MainThreadSlot } from './main-thread-slot';
import { OnnxSlot } from './onnx-slot';
import type { ExplainRequest, ServedExplanation } from './model-work';
import type { ModelInfo, Snapshot } from './model-source';
import { restartDelayMs, restartPolicy, restartsExhausted, type RestartPolicy } from './restart-policy';
import type { Slot } from './slot';
import { checkSlotsParity } from './slot-parity';
import { WorkerSlot } from './worker-slot';

export { DEFAULT_RESTART, type RestartPolicy } from './restart-policy';

/**
 * An Engine runs one model on a fixed set of slots: the main thread (workers = 0) or a pool
 * of worker_threads each holding its own copy of the model. Jobs wait in a FIFO and a free
 * slot takes several queued jobs at once (up to maxBatch images) so that one predict call
 * serves them together; a job that asks for explanations (Grad-CAM, one backward pass per image)
 * runs alone, in a slot like any other, so it never holds up the HTTP thread. Admission (the
 * bounded queue) is the caller's job; see ModelHost.
 */

export interface EngineOptions {
  /** 0 = predict on the main thread; N = N worker threads, each with the model (tfjs engine only). */
  workers: number;
  /** The tfjs backend (the tfjs engine, and Grad-CAM on either engine). */
  backend: BackendName;
  /**
   * Where the forward pass runs; default 'tfjs'. On ONNX Runtime one slot on the main thread runs
   * the model on every core and `workers` is not used (see onnx-slot.ts).
   */
  engine?: EngineRequest;
  /** ONNX Runtime intra-op threads (default: the cores). */
  threads?: number;
  /** Most images one predict call takes from the queue. */
  maxBatch: number;
  /** How a dead worker thread is replaced; defaults in DEFAULT_RESTART. */
  restart?: Partial<RestartPolicy>;
  /** Unknown detection: ood.json off, or its threshold replaced. */
  unknown?: UnknownOptions;
  /** The folder the snapshot was copied from: load errors name its files instead of the snapshot's. */
  sourceDir?: string;
  log: (msg: string) => void;
}

export interface EngineResult {
  predictions: OodDecision[];
  /** One per image, for jobs that asked for explanations. */
  explanations?: ServedExplanation[];
  /** Time of the predict call that served this job (shared by the jobs batched with it). */
  predictMs: number;
  /** Time spent waiting for a free slot. */
  queueMs: number;
}

/**
 * One slot: 'up' (with its memory), 'restarting' (its worker died; a replacement is on the
 * way) or 'dead' (replacements failed maxFailures times; given up). `error` says why it died.
 */
export interface SlotStats {
  state: 'up' | 'restarting' | 'dead';
  numTensors?: number;
  heapUsed?: number;
  error?: string;
  /** Consecutive failures (deaths and failed starts) so far. */
  failures?: number;
}

export interface EngineStats {
  modelId: string;
  queued: number;
  running: number;
  /** Slots that can predict now. */
  alive: number;
  slots: SlotStats[];
}

/** A position in the pool; its slot is replaced when its worker dies. */
interface Place {
  slot: Slot | null;
  state: SlotStats['state'];
  failures: number;
  error?: string;
}

interface Job {
  images: RawImage[];
  explain?: ExplainRequest;
  enqueuedAt: number;
  resolve(r: EngineResult): void;
  reject(e: unknown): void;
}

export class Engine {
  private readonly queue: Job[] = [];
  private readonly free: Slot[] = [];
  private readonly places: Place[];
  private readonly policy: RestartPolicy;
  private running = 0;
  private drainWaiters: (() => void)[] = [];
  /** Replacements being waited for or started; close() waits for them. */
  private readonly restarts = new Set<Promise<void>>();
  /** Wakes restart back-offs early when the engine closes. */
  private readonly closing = new AbortController();
  private closed = false;
  private readonly firstOod: OodSummary;

  private constructor(
    readonly snapshot: Snapshot,
    slots: Slot[],
    private readonly opts: EngineOptions,
    /** Where the forward pass runs and why. */
    readonly engine: EngineInfo,
  ) {
    this.policy = restartPolicy(opts.restart);
    this.firstOod = slots[0]!.ood;
    this.places = slots.map((slot) => ({ slot, state: 'up', failures: 0 }));
    this.free.push(...slots);
    for (const p of this.places) this.watch(p);
  }

  /** Loads the snapshot into every slot and warms each up; resolves when all answered. */
  static async open(snapshot: Snapshot, opts: EngineOptions): Promise<Engine> {
    const n = Math.max(0, Math.floor(opts.workers));
    const unknown = opts.unknown ?? {};
    const choice = await chooseEngine(opts.engine ?? 'tfjs', { backend: opts.backend === 'auto' ? undefined : opts.backend });
    const opening: Promise<Slot>[] =
      choice.name === 'onnx'
        ? [OnnxSlot.open(snapshot.dir, unknown, { tfjsBackend: opts.backend, threads: opts.threads })]
        : n === 0
          ? [MainThreadSlot.open(snapshot.dir, snapshot.info.imgSize, unknown)]
          : Array.from({ length: n }, () => WorkerSlot.open(snapshot.dir, opts.backend, unknown));
    const settled = await Promise.allSettled(opening);
    const slots = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      await Promise.all(slots.map((s) => s.close()));
      const e = failed.reason as Error;
      // A corrupt ood.json (or model file) is named in the folder the user knows, not in the snapshot.
      if (opts.sourceDir && e instanceof Error) e.message = e.message.split(snapshot.dir).join(opts.sourceDir);
      throw e;
    }
    const first = slots[0]!;
    const engine: EngineInfo =
      first instanceof OnnxSlot
        ? first.engine
        : { name: 'tfjs', detail: `tfjs ${first.backend} on ${n === 0 ? 'the main thread' : `${n} worker thread(s)`}`, reason: choice.reason };
    return new Engine(snapshot, slots, opts, engine);
  }

  get info(): ModelInfo {
    return this.snapshot.info;
  }

  /** Unknown detection and calibration of the loaded model (the same in every slot). */
  get ood(): OodSummary {
    const s = this.firstOod;
    if (s.active) return { ...s, file: s.file.split(this.snapshot.dir).join(this.opts.sourceDir ?? this.snapshot.dir) };
    return s;
  }

  /** Slots that can predict at the same time (live ones only). */
  get capacity(): number {
    return this.places.filter((p) => p.state === 'up').length;
  }

  /**
   * Null while at least one slot can predict; otherwise why none can (every worker died and
   * is being restarted, or restarts were given up).
   */
  get downReason(): string | null {
    if (this.closed || this.places.some((p) => p.state === 'up')) return null;
    const restarting = this.places.some((p) => p.state === 'restarting');
    const why = this.places.find((p) => p.error)?.error ?? 'unknown';
    return restarting
      ? `model workers are down (${why}); restarting`
      : `model workers are down (${why}); gave up after ${this.policy.maxFailures} failed restarts`;
  }

  /** Jobs queued or running. */
  get pending(): number {
    return this.queue.length + this.running;
  }

  /** The 503 for requests that arrive (or wait) while no slot is alive; null if one is. */
  unavailable(): HttpError | null {
    const reason = this.downReason;
    if (!reason) return null;
    // A replacement takes a few seconds to load the model; a given-up pool needs a promotion or a restart.
    const restarting = this.places.some((p) => p.state === 'restarting');
    return new HttpError(503, 'workers-down', reason, { 'Retry-After': restarting ? '5' : '30' });
  }

  /** Decisions for the images; with `explain` (the upload bytes, one per image) also Grad-CAM overlays. */
  predict(images: RawImage[], explain?: ExplainRequest): Promise<EngineResult> {
    if (this.closed) return Promise.reject(new HttpError(503, 'unavailable', 'model is shutting down'));
    const down = this.unavailable();
    if (down) return Promise.reject(down);
    if (explain && explain.bytes.length !== images.length) return Promise.reject(new Error(`explain: ${explain.bytes.length} uploads for ${images.length} images`));
    return new Promise((resolve, reject) => {
      this.queue.push({ images, explain, enqueuedAt: performance.now(), resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.free.length > 0 && this.queue.length > 0) {
      const slot = this.free.pop()!;
      void this.runBatch(slot, takeBatch(this.queue, this.opts.maxBatch));
    }
  }

  private async runBatch(slot: Slot, batch: Job[]): Promise<void> {
    this.running += batch.length;
    const started = performance.now();
    try {
      const { predictions, explanations, predictMs } = await slot.run(batch.flatMap((j) => j.images), batch.length === 1 ? batch[0]!.explain : undefined);
      const place = this.places.find((p) => p.slot === slot);
      if (place) place.failures = 0; // it answered: a later death starts a fresh restart budget
      let k = 0;
      for (const j of batch) {
        j.resolve({
          predictions: predictions.slice(k, k + j.images.length),
          ...(j.explain && explanations ? { explanations } : {}),
          predictMs,
          queueMs: started - j.enqueuedAt,
        });
        k += j.images.length;
      }
    } catch (e) {
      const msg = (e as Error).message;
      this.opts.log(`predict failed: ${msg}`);
      const err = slot.alive
        ? new HttpError(500, 'predict-failed', `the model failed to answer: ${msg}`)
        : new HttpError(500, 'worker-died', `the model worker died while predicting this request: ${msg}`);
      for (const j of batch) j.reject(err);
    } finally {
      this.running -= batch.length;
      // A dead slot is not reused; its death handler has already started a replacement.
      if (slot.alive) this.free.push(slot);
      this.dispatch();
      if (this.pending === 0) {
        for (const w of this.drainWaiters.splice(0)) w();
      }
    }
  }

  /** Hooks a worker slot's death to its replacement. */
  private watch(place: Place): void {
    const slot = place.slot;
    if (!(slot instanceof WorkerSlot)) return;
    slot.onDeath = (e) => this.died(place, slot, e);
    if (!slot.alive) this.died(place, slot, slot.death!); // died before it was watched
  }

  /** A worker died (out of memory, native crash, killed): take it out and replace it. */
  private died(place: Place, slot: Slot, e: Error): void {
    if (this.closed || place.slot !== slot) return;
    const i = this.free.indexOf(slot);
    if (i >= 0) this.free.splice(i, 1);
    place.slot = null;
    place.state = 'restarting';
    place.error = e.message;
    place.failures++;
    this.opts.log(`model worker ${this.places.indexOf(place)} died: ${e.message}`);
    this.rejectQueueIfDown();
    const p = this.restart(place).catch((err) => this.opts.log(`restarting a model worker failed: ${(err as Error).message}`));
    this.restarts.add(p);
    void p.finally(() => this.restarts.delete(p));
  }

  /** With no live slot, nothing would ever take the queued jobs: answer them now. */
  private rejectQueueIfDown(): void {
    const err = this.unavailable();
    if (!err || this.queue.length === 0) return;
    for (const j of this.queue.splice(0)) j.reject(err);
    if (this.pending === 0) {
      for (const w of this.drainWaiters.splice(0)) w();
    }
  }

  /** Starts replacements with back-off until one comes up or maxFailures is reached. */
  private async restart(place: Place): Promise<void> {
    const n = this.places.indexOf(place);
    while (!this.closed) {
      if (restartsExhausted(this.policy, place.failures)) {
        place.state = 'dead';
        this.opts.log(`model worker ${n}: giving up after ${place.failures - 1} failed restarts (${place.error})`);
        this.rejectQueueIfDown();
        return;
      }
      await sleep(restartDelayMs(this.policy, place.failures), this.closing.signal);
      if (this.closed) return;
      this.opts.log(`model worker ${n}: starting a replacement (failure ${place.failures})`);
      let slot: WorkerSlot;
      try {
        slot = await WorkerSlot.open(this.snapshot.dir, this.opts.backend, this.opts.unknown ?? {});
      } catch (e) {
        place.error = `replacement failed to start: ${(e as Error).message}`;
        place.failures++;
        this.opts.log(`model worker ${n}: ${place.error}`);
        continue;
      }
      if (this.closed) return void (await slot.close());
      place.slot = slot;
      place.state = 'up';
      this.free.push(slot);
      this.watch(place);
      this.opts.log(`model worker ${n} is back`);
      this.dispatch();
      return;
    }
  }

  /**
   * Re-classifies the parity record's photos on every slot and compares with the record (see
   * slot-parity.ts). Call before the engine takes requests.
   */
  checkParity(record: ParityRecord, photos: ReadonlyMap<string, Buffer>): Promise<ParityCheck> {
    return checkSlotsParity(this.places.map((p) => p.slot), this.info.meta, record, photos);
  }

  /** Test hook: ends worker thread `i` as a crash would. */
  async killWorker(i: number): Promise<void> {
    const slot = this.places[i]?.slot;
    if (!(slot instanceof WorkerSlot)) throw new Error(`slot ${i} is not a running worker thread`);
    await slot.kill();
  }

  /** Resolves once nothing is queued or running. */
  drain(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((r) => this.drainWaiters.push(r));
  }

  /** Never rejects for a dead slot: it is reported with its state instead of its memory. */
  async stats(): Promise<EngineStats> {
    const slots = await Promise.all(
      this.places.map(async (p): Promise<SlotStats> => {
        const slot = p.slot;
        if (p.state === 'up' && slot) {
          try {
            return { state: 'up', ...(await slot.stats()) };
          } catch (e) {
            return { state: slot.alive ? 'up' : 'restarting', error: (e as Error).message, failures: p.failures };
          }
        }
        return { state: p.state, error: p.error, failures: p.failures };
      }),
    );
    return { modelId: this.info.id, queued: this.queue.length, running: this.running, alive: this.capacity, slots };
  }

  /** Finishes queued and running jobs, then frees the model(s). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    await this.drain();
    await Promise.all([...this.restarts]);
    await Promise.all(this.places.map((p) => p.slot?.close()));
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}
