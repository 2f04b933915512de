/**
 * The slot backed by a worker thread that loads the model itself (see worker.ts): calls are
 * messages paired with replies by id; images are copied into fresh buffers and transferred.
 * When the thread dies on its own (crash, out of memory, exit) every pending call is rejected and
 * `onDeath` is told once, so the engine can replace the slot.
 */
import { Worker } from 'node:worker_threads';
import type { BackendName } from '@parts/backend';
import type { RawImage } from '@parts/data';
import type { OodSummary, UnknownOptions } from '@parts/models';
import type { ExplainRequest } from './model-work';
import type { Slot } from './slot';
import type { FromWorker, ToWorker } from './worker-protocol';

const WORKER_ENTRY = new URL('./worker-entry.mjs', import.meta.url);

export class WorkerSlot implements Slot {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(v: FromWorker): void; reject(e: unknown): void }>();
  private dead: Error | null = null;
  /** Told once when the thread dies on its own (crash, OOM, exit); not on close(). */
  onDeath: ((e: Error) => void) | null = null;
  backend = '';
  ood: OodSummary = { active: false, reason: 'not loaded yet', temperature: 1 };

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: FromWorker) => {
      const w = 'id' in m ? this.waiting.get(m.id) : undefined;
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.type === 'error') w.reject(new Error(m.message));
      else w.resolve(m);
    });
    const fail = (e: Error) => {
      const first = this.dead === null;
      this.dead ??= e;
      for (const w of this.waiting.values()) w.reject(e);
      this.waiting.clear();
      if (first) this.onDeath?.(e);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`model worker exited (code ${code})`)));
  }

  static async open(dir: string, backend: BackendName, unknown: UnknownOptions): Promise<WorkerSlot> {
    const slot = new WorkerSlot(new Worker(WORKER_ENTRY, { workerData: null }));
    try {
      const m = await slot.call({ type: 'init', id: 0, dir, backend, unknown });
      if (m.type === 'ready') {
        slot.backend = m.backend;
        slot.ood = m.ood;
      }
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

  async run(images: RawImage[], explain?: ExplainRequest) {
    // Copy into fresh buffers so they can be transferred (decoder output may share a pool).
    const copies = images.map((im) => ({ data: new Uint8Array(im.data), width: im.width, height: im.height }));
    const transfer = copies.map((c) => c.data.buffer as ArrayBuffer);
    let ex: ExplainRequest | undefined;
    if (explain) {
      ex = { ...explain, bytes: explain.bytes.map((b) => new Uint8Array(b)) };
      transfer.push(...ex.bytes.map((b) => b.buffer as ArrayBuffer));
    }
    const m = await this.call({ type: 'predict', id: -1, images: copies, ...(ex ? { explain: ex } : {}) }, transfer);
    if (m.type !== 'result') throw new Error(`unexpected worker reply ${m.type}`);
    return { predictions: m.predictions, explanations: m.explanations, modelProbabilities: m.modelProbabilities, predictMs: m.predictMs };
  }

  async stats() {
    const m = await this.call({ type: 'stats', id: -1 });
    if (m.type !== 'stats') throw new Error(`unexpected worker reply ${m.type}`);
    return { numTensors: m.numTensors, heapUsed: m.heapUsed };
  }

  get alive(): boolean {
    return this.dead === null;
  }

  /** Why the thread died, if it did. */
  get death(): Error | null {
    return this.dead;
  }

  /** Ends the thread the way a crash would: the engine learns it from the exit event. */
  async kill(): Promise<void> {
    await this.worker.terminate();
  }

  async close() {
    this.dead ??= new Error('model worker closed');
    await this.worker.terminate();
  }
}
