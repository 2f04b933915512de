import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendName } from '@parts/backend';
import type { RawImage } from '@parts/data';
import { classify, disposeClassifier, loadClassifier, type Classifier, type Prediction } from '@parts/models';
import { HttpError } from './errors';
import type { ModelInfo, Snapshot } from './model-source';
import type { FromWorker, ToWorker } from './worker-protocol';

/**
 * An Engine runs one model on a fixed set of slots: the main thread (workers = 0) or a pool
 * of worker_threads each holding its own copy of the model. Jobs wait in a FIFO and a free
 * slot takes several queued jobs at once (up to maxBatch images) so that one predict call
 * serves them together. Admission (the bounded queue) is the caller's job; see ModelHost.
 */

export interface EngineOptions {
  /** 0 = predict on the main thread; N = N worker threads, each with the model. */
  workers: number;
  backend: BackendName;
  /** Most images one predict call takes from the queue. */
  maxBatch: number;
  log: (msg: string) => void;
}

export interface EngineResult {
  predictions: Prediction[];
  /** Time of the predict call that served this job (shared by the jobs batched with it). */
  predictMs: number;
  /** Time spent waiting for a free slot. */
  queueMs: number;
}

export interface SlotStats {
  numTensors: number;
  heapUsed: number;
}

export interface EngineStats {
  modelId: string;
  queued: number;
  running: number;
  slots: SlotStats[];
}

interface Slot {
  run(images: RawImage[]): Promise<{ predictions: Prediction[]; predictMs: number }>;
  stats(): Promise<SlotStats>;
  close(): Promise<void>;
}

interface Job {
  images: RawImage[];
  enqueuedAt: number;
  resolve(r: EngineResult): void;
  reject(e: unknown): void;
}

function blankImage(size: number): RawImage {
  return { data: new Uint8Array(size * size * 3), width: size, height: size };
}

/** Slot on the calling thread; the backend must already be initialised. */
class MainThreadSlot implements Slot {
  private constructor(private readonly c: Classifier) {}

  static async open(dir: string, imgSize: number): Promise<MainThreadSlot> {
    const c = await loadClassifier(dir);
    const slot = new MainThreadSlot(c);
    try {
      await slot.run([blankImage(imgSize)]); // warm-up: first call compiles kernels
    } catch (e) {
      disposeClassifier(c);
      throw e;
    }
    return slot;
  }

  async run(images: RawImage[]) {
    const t0 = performance.now();
    const predictions = await classify(this.c, images);
    return { predictions, predictMs: performance.now() - t0 };
  }

  async stats(): Promise<SlotStats> {
    return { numTensors: tf.memory().numTensors, heapUsed: process.memoryUsage().heapUsed };
  }

  async close() {
    disposeClassifier(this.c);
  }
}

const WORKER_ENTRY = new URL('./worker-entry.mjs', import.meta.url);

/** Slot backed by a worker thread that loads the model itself (see worker.ts). */
class WorkerSlot implements Slot {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(v: FromWorker): void; reject(e: unknown): void }>();
  private dead: Error | null = null;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: FromWorker) => {
      const w = 'id' in m ? this.waiting.get(m.id) : undefined;
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.type === 'error') w.reject(new Error(m.message));
      else w.resolve(m);
    });
    const fail = (e: Error) => {
      this.dead ??= e;
      for (const w of this.waiting.values()) w.reject(e);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`model worker exited (code ${code})`)));
  }

  static async open(dir: string, backend: BackendName): Promise<WorkerSlot> {
    const slot = new WorkerSlot(new Worker(WORKER_ENTRY, { workerData: null }));
    try {
      await slot.call({ type: 'init', id: 0, dir, backend });
    } catch (e) {
      await slot.close();
      throw e;
    }
    return slot;
  }

  private call(msg: ToWorker, transfer: ArrayBuffer[] = []): Promise<FromWorker> {
    if (this.dead) return Promise.reject(this.dead);
    const id = msg.type === 'init' ? 0 : this.nextId++;
    const withId = { ...msg, id } as ToWorker;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage(withId, transfer);
    });
  }

  async run(images: RawImage[]) {
    // Copy into fresh buffers so they can be transferred (decoder output may share a pool).
    const copies = images.map((im) => ({ data: new Uint8Array(im.data), width: im.width, height: im.height }));
    const m = await this.call({ type: 'predict', id: -1, images: copies }, copies.map((c) => c.data.buffer as ArrayBuffer));
    if (m.type !== 'result') throw new Error(`unexpected worker reply ${m.type}`);
    return { predictions: m.predictions, predictMs: m.predictMs };
  }

  async stats(): Promise<SlotStats> {
    const m = await this.call({ type: 'stats', id: -1 });
    if (m.type !== 'stats') throw new Error(`unexpected worker reply ${m.type}`);
    return { numTensors: m.numTensors, heapUsed: m.heapUsed };
  }

  get alive(): boolean {
    return this.dead === null;
  }

  async close() {
    this.dead ??= new Error('model worker closed');
    await this.worker.terminate();
  }
}

export class Engine {
  private readonly queue: Job[] = [];
  private readonly free: Slot[] = [];
  private running = 0;
  private drainWaiters: (() => void)[] = [];
  private closed = false;

  private constructor(
    readonly snapshot: Snapshot,
    private readonly slots: Slot[],
    private readonly opts: EngineOptions,
  ) {
    this.free.push(...slots);
  }

  /** Loads the snapshot into every slot and warms each up; resolves when all answered. */
  static async open(snapshot: Snapshot, opts: EngineOptions): Promise<Engine> {
    const n = Math.max(0, Math.floor(opts.workers));
    const opening =
      n === 0
        ? [MainThreadSlot.open(snapshot.dir, snapshot.info.imgSize)]
        : Array.from({ length: n }, () => WorkerSlot.open(snapshot.dir, opts.backend));
    const settled = await Promise.allSettled(opening);
    const slots = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      await Promise.all(slots.map((s) => s.close()));
      throw failed.reason;
    }
    return new Engine(snapshot, slots, opts);
  }

  get info(): ModelInfo {
    return this.snapshot.info;
  }

  /** Slots that can predict at the same time. */
  get capacity(): number {
    return this.slots.length;
  }

  /** Jobs queued or running. */
  get pending(): number {
    return this.queue.length + this.running;
  }

  predict(images: RawImage[]): Promise<EngineResult> {
    if (this.closed) return Promise.reject(new HttpError(503, 'unavailable', 'model is shutting down'));
    return new Promise((resolve, reject) => {
      this.queue.push({ images, enqueuedAt: performance.now(), resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.free.length > 0 && this.queue.length > 0) {
      const slot = this.free.pop()!;
      const batch: Job[] = [this.queue.shift()!];
      let n = batch[0]!.images.length;
      while (this.queue.length > 0 && n + this.queue[0]!.images.length <= this.opts.maxBatch) {
        const j = this.queue.shift()!;
        n += j.images.length;
        batch.push(j);
      }
      void this.runBatch(slot, batch);
    }
  }

  private async runBatch(slot: Slot, batch: Job[]): Promise<void> {
    this.running += batch.length;
    const started = performance.now();
    try {
      const { predictions, predictMs } = await slot.run(batch.flatMap((j) => j.images));
      let k = 0;
      for (const j of batch) {
        j.resolve({ predictions: predictions.slice(k, k + j.images.length), predictMs, queueMs: started - j.enqueuedAt });
        k += j.images.length;
      }
    } catch (e) {
      this.opts.log(`predict failed: ${(e as Error).message}`);
      const err = new HttpError(500, 'predict-failed', `the model failed to answer: ${(e as Error).message}`);
      for (const j of batch) j.reject(err);
    } finally {
      this.running -= batch.length;
      if (slot instanceof WorkerSlot && !slot.alive && !this.closed) {
        this.replace(slot);
      } else {
        this.free.push(slot);
      }
      this.dispatch();
      if (this.pending === 0) {
        for (const w of this.drainWaiters.splice(0)) w();
      }
    }
  }

  /** A worker died (out of memory, native crash): start a fresh one in its place. */
  private replace(dead: WorkerSlot): void {
    const i = this.slots.indexOf(dead);
    this.opts.log('model worker died; starting a replacement');
    WorkerSlot.open(this.snapshot.dir, this.opts.backend).then(
      (s) => {
        if (this.closed) return void s.close();
        this.slots[i] = s;
        this.free.push(s);
        this.dispatch();
      },
      (e) => this.opts.log(`replacement worker failed: ${(e as Error).message}`),
    );
  }

  /** Resolves once nothing is queued or running. */
  drain(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((r) => this.drainWaiters.push(r));
  }

  async stats(): Promise<EngineStats> {
    return {
      modelId: this.info.id,
      queued: this.queue.length,
      running: this.running,
      slots: await Promise.all(this.slots.map((s) => s.stats())),
    };
  }

  /** Finishes queued and running jobs, then frees the model(s). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.drain();
    await Promise.all(this.slots.map((s) => s.close()));
  }
}
