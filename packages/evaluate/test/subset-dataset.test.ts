// Seeded subsets of a dataset for the CI gate: stratified counts, the same photos for the same seed,
// links to the original photos, the test split whole or drawn, and clear errors.
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listDataset } from '@parts/data';
import { makeSubsetDataset } from '../src/subset-dataset';
import { readBaseline, validateBaseline } from '../src/check';
import { tempDir, writeJpeg } from './helpers';

async function dataset(root: string): Promise<void> {
  for (const [split, n] of [['train', 12], ['test', 5]] as const) {
    for (const [cls, rgb] of [['a', [200, 30, 30]], ['b', [30, 30, 200]]] as const) {
      for (let i = 0; i < (cls === 'b' && split === 'train' ? 4 : n); i++) await writeJpeg(path.join(root, split, cls, `${cls}_${i}.jpg`), [rgb[0], rgb[1] + i, rgb[2]]);
    }
  }
}

const files = async (root: string) => (await listDataset(root, { groupThreshold: 0 })).splits;

describe('makeSubsetDataset', () => {
  it('links a stratified seeded draw: per class at most the asked count, the same photos for the same seed', async () => {
    const dir = await tempDir();
    await dataset(path.join(dir, 'src'));
    const a = await makeSubsetDataset(path.join(dir, 'src'), path.join(dir, 'a', 'src'), { trainPerClass: 6 });
    expect(a).toMatchObject({ classes: ['a', 'b'], train: 6 + 4, test: 10 });
    const names = async (root: string) => (await fs.readdir(path.join(root, 'train', 'a'))).sort();
    const b = await makeSubsetDataset(path.join(dir, 'src'), path.join(dir, 'b', 'src'), { trainPerClass: 6 });
    expect(await names(b.root)).toEqual(await names(a.root));
    const other = await makeSubsetDataset(path.join(dir, 'src'), path.join(dir, 'c', 'src'), { trainPerClass: 6, seed: 7 });
    expect(await names(other.root)).not.toEqual(await names(a.root));
    // Links to the original photos, nothing copied.
    const first = path.join(a.root, 'train', 'a', (await names(a.root))[0]!);
    expect((await fs.lstat(first)).isSymbolicLink()).toBe(true);
    expect(existsSync(await fs.realpath(first))).toBe(true);
    const test = await makeSubsetDataset(path.join(dir, 'src'), path.join(dir, 'd', 'src'), { trainPerClass: 2, testPerClass: 3 });
    expect((await files(test.root)).test.length).toBe(6);
  });

  it('refuses an existing destination and bad counts, naming the field', async () => {
    const dir = await tempDir();
    await dataset(path.join(dir, 'src'));
    await fs.mkdir(path.join(dir, 'taken'));
    await expect(makeSubsetDataset(path.join(dir, 'src'), path.join(dir, 'taken'), { trainPerClass: 2 })).rejects.toThrow(/EEXIST/);
    await expect(makeSubsetDataset(path.join(dir, 'src'), path.join(dir, 'x'), { trainPerClass: 0 })).rejects.toThrow(/subset.trainPerClass must be a whole number >= 1 \(got 0\)/);
    expect(() => validateBaseline({ tasks: { c: { arch: 'partsnet', accuracy: 0.9, subset: { trainPerClass: 10, testPerClass: 2.5 } } } })).toThrow(/tasks.c.subset.testPerClass must be a whole number/);
  });

  it('the committed baseline is valid and gates casting and neu on subsets', async () => {
    const b = await readBaseline(path.resolve(__dirname, '../../../evaluation/baseline.json'));
    expect(b.tasks.casting?.subset?.trainPerClass).toBe(100);
    expect(b.tasks.neu?.subset).toBeDefined();
  });
});
