import type { BackendName } from '@parts/backend';
import type { RawImage } from '@parts/data';
import type { OodSummary, UnknownOptions } from '@parts/models';
import type { ExplainRequest, SlotOutput } from './model-work';

/** Messages between Engine (main thread) and a model worker; `id` pairs replies with calls. */
export type ToWorker =
  | { type: 'init'; id: number; dir: string; backend: BackendName; unknown: UnknownOptions }
  | { type: 'predict'; id: number; images: RawImage[]; explain?: ExplainRequest }
  | { type: 'stats'; id: number };

export type FromWorker =
  | { type: 'ready'; id: number; backend: string; warmupMs: number; ood: OodSummary }
  | ({ type: 'result'; id: number; predictMs: number } & SlotOutput)
  | { type: 'stats'; id: number; numTensors: number; heapUsed: number }
  | { type: 'error'; id: number; message: string };
