import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '@parts/cli';
import { listDataset, DatasetError, type DatasetIndex } from '../src/index';
import { distinctImage, makeDataset, tempDir } from './fixtures';

const names = (idx: DatasetIndex, split: 'train' | 'val' | 'test') => idx.splits[split].map((s) => path.relative(idx.root, s.file));

describe('listDataset: layout', () => {
  it('indexes train/test folders with sorted classes and files', async () => {
    const root = await makeDataset({ train: { small: 3, big: 2, Zeta: 1 }, test: { small: 1, big: 1, Zeta: 1 } });
    const idx = await listDataset(root);
    // Code-unit order, not locale order: uppercase sorts first.
    expect(idx.classes).toEqual(['Zeta', 'big', 'small']);
    expect(idx.splitSource).toEqual({ train: 'folder', val: 'none', test: 'folder' });
    expect(names(idx, 'train')).toEqual([
      'train/Zeta/img_000.png',
      'train/big/img_000.png',
      'train/big/img_001.png',
      'train/small/img_000.png',
      'train/small/img_001.png',
      'train/small/img_002.png',
    ]);
    expect(idx.splits.train.map((s) => s.label)).toEqual([0, 1, 1, 2, 2, 2]);
    expect(idx.splits.val).toEqual([]);
    expect(idx.splits.test).toHaveLength(3);
    expect(idx.skipped).toBeUndefined();
  });

  it('finds jpg/jpeg/png/webp in any case and ignores other files', async () => {
    const root = await makeDataset({ train: { a: 1, b: 1 }, test: { a: 1, b: 1 } });
    const dir = path.join(root, 'train', 'a');
    writeFileSync(path.join(dir, 'x.JPG'), await distinctImage(10, 'jpeg'));
    writeFileSync(path.join(dir, 'y.Jpeg'), await distinctImage(11, 'jpeg'));
    writeFileSync(path.join(dir, 'z.WebP'), await distinctImage(12, 'webp'));
    writeFileSync(path.join(dir, 'notes.txt'), 'not an image');
    writeFileSync(path.join(dir, '.hidden.png'), await distinctImage(13));
    const idx = await listDataset(root);
    expect(names(idx, 'train').filter((n) => n.startsWith('train/a/'))).toEqual([
      'train/a/img_000.png',
      'train/a/x.JPG',
      'train/a/y.Jpeg',
      'train/a/z.WebP',
    ]);
  });

  it('uses a val folder when present', async () => {
    const root = await makeDataset({ train: { a: 2, b: 2 }, val: { a: 1, b: 1 }, test: { a: 1, b: 1 } });
    const idx = await listDataset(root, { valSplit: 0.5 });
    expect(idx.splitSource.val).toBe('folder');
    expect(names(idx, 'val')).toEqual(['val/a/img_000.png', 'val/b/img_000.png']);
    expect(idx.splits.train).toHaveLength(4);
  });

  it('errors name the offending path', async () => {
    const missing = path.join(tempDir(), 'nope');
    await expect(listDataset(missing)).rejects.toThrow(`dataset root not found: ${missing}`);

    const noTrain = await makeDataset({ test: { a: 1, b: 1 } });
    await expect(listDataset(noTrain)).rejects.toThrow(`no train folder in ${noTrain}`);

    const oneClass = await makeDataset({ train: { a: 3 }, test: { a: 1 } });
    await expect(listDataset(oneClass)).rejects.toThrow(/at least 2 classes, found 1 \(a\)/);

    const empty = await makeDataset({ train: { a: 2, b: 2 }, test: { a: 1, b: 1 } });
    mkdirSync(path.join(empty, 'train', 'c'));
    mkdirSync(path.join(empty, 'test', 'c'));
    writeFileSync(path.join(empty, 'train', 'c', 'readme.txt'), 'no images here');
    await expect(listDataset(empty)).rejects.toThrow(`empty class folder: ${path.join(empty, 'train', 'c')}`);

    const lacking = await makeDataset({ train: { a: 2, b: 2 }, test: { a: 1 } });
    await expect(listDataset(lacking)).rejects.toThrow(`split folder ${path.join(lacking, 'test')} lacks class folder(s): b`);

    const root = await makeDataset({ train: { a: 2, b: 2 } });
    await expect(listDataset(root, { testSplit: 1.5 })).rejects.toThrow(/testSplit must be a fraction/);
  });
});

describe('listDataset: generated splits', () => {
  const spec = { train: { big: 30, small: 12, tiny: 2 } };

  it('makes a stratified test split when there is no test folder', async () => {
    const root = await makeDataset(spec);
    const idx = await listDataset(root, { seed: 7 });
    expect(idx.splitSource.test).toBe('generated');
    const count = (split: 'train' | 'test', label: number) => idx.splits[split].filter((s) => s.label === label).length;
    // round(n / 3) per class, and a class keeps at least one training image.
    expect([count('test', 0), count('test', 1), count('test', 2)]).toEqual([10, 4, 1]);
    expect([count('train', 0), count('train', 1), count('train', 2)]).toEqual([20, 8, 1]);
    // A partition: nothing lost, nothing shared.
    const all = [...idx.splits.train, ...idx.splits.test].map((s) => s.file).sort();
    expect(new Set(all).size).toBe(44);
    const testFiles = new Set(idx.splits.test.map((s) => s.file));
    expect(idx.splits.train.some((s) => testFiles.has(s.file))).toBe(false);
  });

  it('is determined by the seed', async () => {
    const root = await makeDataset(spec);
    const a = await listDataset(root, { seed: 1, valSplit: 0.2 });
    const b = await listDataset(root, { seed: 1, valSplit: 0.2 });
    const c = await listDataset(root, { seed: 2, valSplit: 0.2 });
    expect(names(b, 'test')).toEqual(names(a, 'test'));
    expect(names(b, 'val')).toEqual(names(a, 'val'));
    // The training seed moves the validation split but never the test split: runs with different
    // seeds are compared on the same held-out images. testSeed moves it.
    expect(names(c, 'test')).toEqual(names(a, 'test'));
    expect(names(c, 'val')).not.toEqual(names(a, 'val'));
    const e = await listDataset(root, { seed: 1, testSeed: 7, valSplit: 0.2 });
    expect(names(e, 'test')).not.toEqual(names(a, 'test'));
    // The same files in another folder split the same way (the split keys on names, not paths).
    const copy = await makeDataset(spec);
    const d = await listDataset(copy, { seed: 1, valSplit: 0.2 });
    expect(names(d, 'test')).toEqual(names(a, 'test'));
  });

  it('carves a stratified val split from train', async () => {
    const root = await makeDataset({ train: { a: 20, b: 10 }, test: { a: 2, b: 2 } });
    const idx = await listDataset(root, { valSplit: 0.2, seed: 3 });
    expect(idx.splitSource).toEqual({ train: 'folder', val: 'generated', test: 'folder' });
    expect(idx.splits.val.filter((s) => s.label === 0)).toHaveLength(4);
    expect(idx.splits.val.filter((s) => s.label === 1)).toHaveLength(2);
    expect(idx.splits.train).toHaveLength(24);
    expect(idx.splits.test).toHaveLength(4);
  });
});

describe('listDataset: bad files', () => {
  async function withBadFiles() {
    const root = await makeDataset({ train: { a: 3, b: 3 }, test: { a: 1, b: 1 } });
    const text = path.join(root, 'train', 'a', 'fake.jpg');
    writeFileSync(text, 'this is a text file, not a JPEG');
    const jpeg = await distinctImage(99, 'jpeg', 256);
    const truncated = path.join(root, 'train', 'b', 'cut.jpg');
    writeFileSync(truncated, jpeg.subarray(0, Math.floor(jpeg.length / 2)));
    return { root, text, truncated };
  }

  it('stops with an error naming every unreadable file', async () => {
    const { root, text, truncated } = await withBadFiles();
    const err = await listDataset(root).catch((e) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect(err.message).toContain(`cannot decode ${text}`);
    expect(err.message).toContain(`cannot decode ${truncated}`);
    expect(err.message).toContain('--skip-bad');
    expect(err.badFiles.map((b: { file: string }) => b.file).sort()).toEqual([text, truncated].sort());
  });

  it('skips and lists them with skipBad', async () => {
    const { root, text, truncated } = await withBadFiles();
    const idx = await listDataset(root, { skipBad: true });
    expect(idx.skipped?.map((b) => [b.file, b.code]).sort()).toEqual(
      [
        [text, 'unsupported'],
        [truncated, 'corrupt'],
      ].sort(),
    );
    expect(idx.splits.train).toHaveLength(6);
    expect(idx.splits.train.map((s) => s.file)).not.toContain(text);
  });

  it('lists without reading the files when validate is false', async () => {
    const { root, text } = await withBadFiles();
    const idx = await listDataset(root, { validate: false });
    expect(idx.splits.train.map((s) => s.file)).toContain(text);
  });
});

describe('repoRoot', () => {
  it('finds the folder holding pnpm-workspace.yaml', () => {
    const root = repoRoot();
    expect(path.join(root, 'packages', 'data', 'test')).toBe(path.resolve(__dirname));
    expect(() => repoRoot('/')).toThrow(/pnpm-workspace.yaml/);
  });
});
