/**
 * The slot that runs the forward pass on ONNX Runtime (model.onnx, or the tfjs model exported in
 * memory), on the main thread: ONNX Runtime computes on its own native threads, so the event loop
 * stays free while a batch runs and no worker thread (with its own tfjs heap) is needed. One slot
 * per model; its session uses every core (see onnxSessionOptions).
 *
 * Requests that ask for explanations (Grad-CAM needs gradients, so tfjs) go to a tfjs worker
 * thread started on the first such request: serving without explanations never loads tfjs' copy
 * of the model. A dead explainer is replaced on the next explain request.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendName } from '@parts/backend';
import type { RawImage } from '@parts/data';
import { loadPredictor, MODEL_ONNX, type EngineInfo, type OodSummary, type Predictor, type UnknownOptions } from '@parts/models';
import { decideAndExplain, type ExplainRequest } from './model-work';
import { blankImage, type Slot, type SlotRun } from './slot';
import { WorkerSlot } from './worker-slot';

export const ONNX_SLOT_BACKEND = 'onnxruntime';

export class OnnxSlot implements Slot {
  readonly alive = true;
  readonly backend = ONNX_SLOT_BACKEND;
  private explainer: Promise<WorkerSlot> | null = null;

  private constructor(
    private readonly p: Predictor,
    private readonly dir: string,
    private readonly tfjsBackend: BackendName,
    private readonly unknown: UnknownOptions,
  ) {}

  get ood(): OodSummary {
    return this.p.ood;
  }

  get engine(): EngineInfo {
    return this.p.engine;
  }

  static async open(dir: string, unknown: UnknownOptions, opts: { tfjsBackend: BackendName; threads?: number }): Promise<OnnxSlot> {
    // Without model.onnx the tfjs model is exported in memory, which needs a tfjs backend in this
    // thread; the cpu one is enough (the weights are only read) and allocates no wasm heap.
    if (!existsSync(path.join(dir, MODEL_ONNX)) && !tf.engine().backendName) await initBackend('cpu', () => {});
    const p = await loadPredictor(dir, unknown, { engine: 'onnx', threads: opts.threads });
    const slot = new OnnxSlot(p, dir, opts.tfjsBackend, unknown);
    try {
      await slot.run([blankImage(p.meta.imgSize)]); // warm-up: the first run plans memory
    } catch (e) {
      p.dispose();
      throw e;
    }
    return slot;
  }

  async run(images: RawImage[], explain?: ExplainRequest): Promise<SlotRun> {
    if (explain) return (await this.explainerSlot()).run(images, explain);
    const t0 = performance.now();
    const out = await decideAndExplain(this.p, images);
    return { ...out, predictMs: performance.now() - t0 };
  }

  private async explainerSlot(): Promise<WorkerSlot> {
    const current = this.explainer && (await this.explainer.catch(() => null));
    if (current?.alive) return current;
    this.explainer = WorkerSlot.open(this.dir, this.tfjsBackend, this.unknown);
    return this.explainer;
  }

  /** Whether the tfjs explainer thread has been started (tests; memory reports). */
  get explainerStarted(): boolean {
    return this.explainer !== null;
  }

  async stats() {
    // ONNX Runtime holds no tfjs tensors; its memory is native (the process' resident size shows it).
    return { numTensors: 0, heapUsed: process.memoryUsage().heapUsed };
  }

  async close() {
    this.p.dispose();
    const w = this.explainer && (await this.explainer.catch(() => null));
    await w?.close();
  }
}
