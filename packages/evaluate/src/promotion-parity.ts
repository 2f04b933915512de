// The parity record of a promotion: a handful of the run's own test photos and the probabilities the
// model about to be served gives them, written into the staged model folder (see parity.ts in
// @parts/models, the files' one owner). The server re-classifies the same bytes when it loads the
// model and refuses it when they differ.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { listDataset } from '@parts/data';
import { disposeClassifier, loadClassifier, PARITY_PHOTOS, recordParity, sha256Hex, writeParity } from '@parts/models';
import type { ParityPhoto, ParityRecord } from '@parts/models';
import { runListOptions, type RunConfigFile } from '@parts/train';

/**
 * The photos of the test split (listed as training and evaluation list it), smallest first, taken
 * from each class in turn so every class that has a photo is covered; byte-identical files count once.
 */
export async function pickTestPhotos(dataRoot: string, config: RunConfigFile | undefined, n = PARITY_PHOTOS): Promise<ParityPhoto[]> {
  const index = await listDataset(dataRoot, runListOptions(config));
  const samples = index.splits.test ?? [];
  if (samples.length === 0) throw new Error(`${dataRoot}: the test split has no images`);
  const byClass = new Map<number, { file: string; size: number }[]>();
  for (const s of samples) {
    const size = (await fs.stat(s.file)).size;
    byClass.set(s.label, [...(byClass.get(s.label) ?? []), { file: s.file, size }]);
  }
  const queues = [...byClass.keys()].sort((a, b) => a - b).map((k) => byClass.get(k)!.sort((a, b) => a.size - b.size || a.file.localeCompare(b.file)));
  const picked: ParityPhoto[] = [];
  const seen = new Set<string>();
  while (picked.length < n && queues.some((q) => q.length > 0)) {
    for (const q of queues) {
      const next = q.shift();
      if (!next || picked.length >= n) continue;
      const bytes = await fs.readFile(next.file);
      const sha = sha256Hex(bytes);
      if (seen.has(sha)) continue;
      seen.add(sha);
      picked.push({ name: path.relative(dataRoot, next.file), bytes });
    }
  }
  return picked;
}

/**
 * Classifies `photos` with the model in `modelDir` (the staged copy that will be served, with the
 * tfjs backend now active) and writes parity.json and parity/ into that folder.
 */
export async function recordModelParity(modelDir: string, photos: ParityPhoto[]): Promise<ParityRecord> {
  const c = await loadClassifier(modelDir);
  try {
    const record = await recordParity(c, photos);
    await writeParity(modelDir, record, photos);
    return record;
  } finally {
    disposeClassifier(c);
  }
}
