/**
 * A slot is one place a model runs in: the main thread or a worker thread holding its own copy of
 * the model. The engine hands each free slot a batch of queued jobs; this is what it needs of one.
 */
import type { RawImage } from '@parts/data';
import type { OodDecision, OodSummary } from '@parts/models';
import type { ExplainRequest, ServedExplanation } from './model-work';

export interface SlotRun {
  predictions: OodDecision[];
  explanations?: ServedExplanation[];
  /** The model's own probabilities (T = 1, no detector), as the parity record holds them. */
  modelProbabilities: number[][];
  predictMs: number;
}

export interface Slot {
  readonly alive: boolean;
  /** What this slot's model runs on (a tfjs backend name, or the ONNX Runtime provider). */
  readonly backend: string;
  /** Unknown detection and calibration of the model as loaded. */
  readonly ood: OodSummary;
  run(images: RawImage[], explain?: ExplainRequest): Promise<SlotRun>;
  stats(): Promise<{ numTensors: number; heapUsed: number }>;
  close(): Promise<void>;
}

/** A black image at the model's size: the warm-up input (the first call compiles kernels). */
export function blankImage(size: number): RawImage {
  return { data: new Uint8Array(size * size * 3), width: size, height: size };
}
