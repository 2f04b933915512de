/**
 * The slot on the calling thread (serve --workers 0): the model is loaded here and predicts
 * between HTTP requests. The tfjs backend must already be initialised.
 */
import * as tf from '@tensorflow/tfjs-core';
import { tuneWebGPUKernels } from '@parts/backend';
import type { RawImage } from '@parts/data';
import { loadPredictor, type OodSummary, type Predictor, type UnknownOptions } from '@parts/models';
import { decideAndExplain, type ExplainRequest } from './model-work';
import { blankImage, type Slot } from './slot';

export class MainThreadSlot implements Slot {
  readonly alive = true;
  readonly backend = tf.getBackend();

  private constructor(private readonly p: Predictor) {}

  get ood(): OodSummary {
    return this.p.ood;
  }

  static async open(dir: string, imgSize: number, unknown: UnknownOptions): Promise<MainThreadSlot> {
    const p = await loadPredictor(dir, unknown);
    const slot = new MainThreadSlot(p);
    try {
      await slot.run([blankImage(imgSize)]); // warm-up: first call compiles kernels
      // On WebGPU: time the kernel variants for the shapes just met (once per GPU, then cached).
      await tuneWebGPUKernels({ log: (l) => process.stderr.write(`${l}\n`) });
    } catch (e) {
      p.dispose();
      throw e;
    }
    return slot;
  }

  async run(images: RawImage[], explain?: ExplainRequest) {
    const t0 = performance.now();
    const out = await decideAndExplain(this.p, images, explain);
    return { ...out, predictMs: performance.now() - t0 };
  }

  async stats() {
    return { numTensors: tf.memory().numTensors, heapUsed: process.memoryUsage().heapUsed };
  }

  async close() {
    this.p.dispose();
  }
}
