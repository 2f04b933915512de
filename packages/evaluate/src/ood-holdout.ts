/**
 * Leave-classes-out datasets for measuring out-of-distribution detection on real photos: a folder of
 * symlinks `<dir>/<split>/<class>` to the kept classes of a dataset, so `train()` sees only those,
 * and the list of the left-out classes' photos (the "unknowns").
 */
import { mkdir, readdir, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { listDataset } from '@parts/data';

export interface HoldoutDataset {
  /** Root of the symlink dataset with only the kept classes. */
  root: string;
  kept: string[];
  leftOut: string[];
  /** Photos of the left-out classes, from every split of the source (none was trained on). */
  unknownFiles: { file: string; className: string; split: string }[];
}

/**
 * Builds `dir` as a dataset holding the classes of `source` except `leftOut` (folder names),
 * replacing whatever `dir` held. Throws naming the class when a left-out class is not in the source.
 */
export async function makeHoldoutDataset(source: string, leftOut: string[], dir: string): Promise<HoldoutDataset> {
  const index = await listDataset(source, { validate: false });
  for (const c of leftOut) {
    if (!index.classes.includes(c)) throw new Error(`${source}: no class "${c}" to leave out (classes: ${index.classes.join(', ')})`);
  }
  const kept = index.classes.filter((c) => !leftOut.includes(c));
  if (kept.length < 2) throw new Error(`${source}: leaving out ${leftOut.join(', ')} keeps ${kept.length} class(es); training needs 2`);
  await rm(dir, { recursive: true, force: true });
  const splits = (await readdir(index.root, { withFileTypes: true })).filter((e) => e.isDirectory() && ['train', 'val', 'test'].includes(e.name));
  for (const s of splits) {
    await mkdir(path.join(dir, s.name), { recursive: true });
    for (const c of kept) {
      const target = path.join(index.root, s.name, c);
      await symlink(target, path.join(dir, s.name, c), 'dir').catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
    }
  }
  const unknownFiles = (['train', 'val', 'test'] as const).flatMap((split) =>
    index.splits[split].filter((s) => leftOut.includes(index.classes[s.label])).map((s) => ({ file: s.file, className: index.classes[s.label], split })),
  );
  return { root: path.resolve(dir), kept, leftOut: [...leftOut], unknownFiles };
}
