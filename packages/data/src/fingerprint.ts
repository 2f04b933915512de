import { contentHash, sha256 } from './hash';
import { mapLimit } from './list';
import { relPosix } from './paths';
import type { DatasetIndex, SplitName } from './types';

const SPLITS: SplitName[] = ['train', 'val', 'test'];

/**
 * sha256 over the class list and, per split and sample, split/class/relative path/content hash.
 * Independent of where the dataset lives, so the same data gives the same fingerprint on any machine.
 */
export async function datasetFingerprint(index: DatasetIndex): Promise<string> {
  const lines = [`classes\t${index.classes.join('\t')}`];
  for (const split of SPLITS) {
    const samples = index.splits[split];
    const hashes = await mapLimit(samples, 8, (s) => contentHash(s.file));
    samples.forEach((s, i) => lines.push(`${split}\t${index.classes[s.label]}\t${relPosix(index.root, s.file)}\t${hashes[i]}`));
  }
  return sha256(lines.join('\n'));
}
