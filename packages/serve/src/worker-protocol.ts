import type { BackendName } from '@parts/backend';
import type { RawImage } from '@parts/data';
import type { Prediction } from '@parts/models';

/** Messages between Engine (main thread) and a model worker; `id` pairs replies with calls. */
export type ToWorker =
  | { type: 'init'; id: number; dir: string; backend: BackendName }
  | { type: 'predict'; id: number; images: RawImage[] }
  | { type: 'stats'; id: number };

export type FromWorker =
  | { type: 'ready'; id: number; backend: string; warmupMs: number }
  | { type: 'result'; id: number; predictions: Prediction[]; predictMs: number }
  | { type: 'stats'; id: number; numTensors: number; heapUsed: number }
  | { type: 'error'; id: number; message: string };
