// Planted edited copies of real photos: the ground truth for the data check's recall and precision.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { expect } from 'vitest';
import { repoRoot } from '@parts/cli';
import { checkDataset, makeRng, shuffled, type DatasetIndex, type DatasetReport } from '../src/index';
import { tempDir } from './fixtures';

export const SHARED = path.resolve(repoRoot(), '../shared/datasets');

const EDITS: [string, (file: string) => Promise<Buffer>][] = [
  ['re-encoded', (f) => sharp(f).jpeg({ quality: 60 }).toBuffer()],
  ['resized', async (f) => sharp(f).resize(Math.round(((await sharp(f).metadata()).width ?? 200) * 0.6)).jpeg({ quality: 85 }).toBuffer()],
  ['brightened', (f) => sharp(f).modulate({ brightness: 1.15 }).jpeg({ quality: 90 }).toBuffer()],
];

/**
 * Plants one edited copy of each of `count` seeded-random photos into the test split (files in a
 * temp folder; the photos stay read-only) and checks the whole set.
 */
export async function plantAndCheck(index: DatasetIndex, count: number): Promise<{ report: DatasetReport; planted: { copy: string; original: string }[] }> {
  const dir = tempDir();
  const picks = shuffled([...index.splits.train, ...index.splits.test], makeRng('planted copies')).slice(0, count);
  const planted: { copy: string; original: string }[] = [];
  const test = [...index.splits.test];
  for (const [k, s] of picks.entries()) {
    const [kind, edit] = EDITS[k % EDITS.length];
    const file = path.join(dir, `copy_${k}_${kind}.jpg`);
    writeFileSync(file, await edit(s.file));
    test.push({ file, label: s.label });
    planted.push({ copy: path.relative(index.root, file).split(path.sep).join('/'), original: path.relative(index.root, s.file).split(path.sep).join('/') });
  }
  const report = await checkDataset({ ...index, splits: { ...index.splits, test } });
  return { report, planted };
}

export function expectFoundExactly(report: DatasetReport, planted: { copy: string; original: string }[]) {
  const key = (a: string, b: string) => [a, b].sort().join(' ~ ');
  const found = report.nearDuplicates.map((p) => key(p.a.path, p.b.path)).sort();
  expect(found).toEqual(planted.map((p) => key(p.copy, p.original)).sort());
}

