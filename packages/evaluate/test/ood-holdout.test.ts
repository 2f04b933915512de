// Leave-classes-out datasets: symlinks to the kept classes, the left-out photos listed as unknowns.
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listDataset } from '@parts/data';
import { makeHoldoutDataset } from '../src/ood-holdout';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function source(): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'ood-holdout-'));
  dirs.push(root);
  for (const split of ['train', 'test']) {
    for (const c of ['a', 'b', 'c', 'd']) {
      await mkdir(path.join(root, 'src', split, c), { recursive: true });
      for (let i = 0; i < (split === 'train' ? 3 : 2); i++) await writeFile(path.join(root, 'src', split, c, `${c}${i}.png`), '');
    }
  }
  return root;
}

describe('makeHoldoutDataset', () => {
  it('keeps the other classes in every split and lists the left-out photos of all splits', async () => {
    const root = await source();
    const h = await makeHoldoutDataset(path.join(root, 'src'), ['b', 'd'], path.join(root, 'rot'));
    expect(h.kept).toEqual(['a', 'c']);
    expect(h.unknownFiles).toHaveLength(2 * (3 + 2));
    expect(new Set(h.unknownFiles.map((u) => u.className))).toEqual(new Set(['b', 'd']));
    const index = await listDataset(h.root, { validate: false });
    expect(index.classes).toEqual(['a', 'c']);
    expect([index.splits.train.length, index.splits.test.length]).toEqual([6, 4]);
    // Rebuilding with another pair replaces the folder.
    await makeHoldoutDataset(path.join(root, 'src'), ['a'], path.join(root, 'rot'));
    expect(await readdir(path.join(root, 'rot', 'train'))).toEqual(['b', 'c', 'd']);
  });

  it('names a class that is not in the dataset, and refuses to keep fewer than 2', async () => {
    const root = await source();
    await expect(makeHoldoutDataset(path.join(root, 'src'), ['x'], path.join(root, 'rot'))).rejects.toThrow(/no class "x" to leave out/);
    await expect(makeHoldoutDataset(path.join(root, 'src'), ['a', 'b', 'c'], path.join(root, 'rot'))).rejects.toThrow(/keeps 1 class/);
  });
});
