// Shared set-up of the training tests: a tiny, fast training recipe and a generated demo dataset
// with a runs folder beside it in a fresh temporary directory.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateDemoDataset, type DemoOptions } from '@parts/data';
import type { TrainOptions } from '../src/index';

/** Tiny VGG at 24 px on wasm, 3 epochs, no early stopping, no console output. */
export const QUICK_TRAIN: Omit<TrainOptions, 'data'> = { arch: 'tinyvgg', mode: 'scratch', imgSize: 24, epochs: 3, batchSize: 8, backend: 'wasm', quiet: true, patience: 0 };

/** `<tmp>/demo` (generated with `demo`) and `<tmp>/runs`, in a new temporary folder named after `prefix`. */
export async function demoWorkspace(prefix: string, demo: DemoOptions): Promise<{ data: string; out: string }> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  const data = path.join(tmp, 'demo');
  await generateDemoDataset(data, demo);
  return { data, out: path.join(tmp, 'runs') };
}
