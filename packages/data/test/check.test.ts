import { cpSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '@parts/cli';
import {
  checkDataset,
  datasetFingerprint,
  dHash,
  formatDatasetReport,
  generateDemoDataset,
  hammingHex,
  listDataset,
  type DatasetIndex,
  type DatasetReport,
} from '../src/index';
import { tempDir } from './fixtures';

/** A slightly edited copy: resized, brighter, re-encoded at a lower quality. */
const editedCopy = (file: string) => sharp(file).resize(500).modulate({ brightness: 1.1 }).jpeg({ quality: 60 }).toBuffer();

describe('checkDataset on a generated dataset with planted problems', () => {
  let root: string;
  let report: DatasetReport;
  let index: DatasetIndex;

  beforeAll(async () => {
    root = (await generateDemoDataset(path.join(tempDir(), 'ds'), { seed: 5, trainPerClass: 6, testPerClass: 3, width: 192, height: 144 })).root;
    // Exact copy of a train image in test: leakage. Edited copy of another: near-duplicate leakage.
    cpSync(path.join(root, 'train/big/big_001.jpg'), path.join(root, 'test/big/copy.jpg'));
    writeFileSync(path.join(root, 'test/small/edited.jpg'), await editedCopy(path.join(root, 'train/small/small_002.jpg')));
    // The same picture filed under two classes: a label conflict.
    cpSync(path.join(root, 'train/big/big_003.jpg'), path.join(root, 'train/small/zz_conflict.jpg'));
    writeFileSync(path.join(root, 'train/big/broken.jpg'), 'not an image');
    index = await listDataset(root, { skipBad: true });
    report = await checkDataset(index);
  });

  it('counts images per class and split', () => {
    expect(report.classes).toEqual(['big', 'small']);
    expect(report.counts.train).toEqual([6, 7]);
    expect(report.counts.test).toEqual([4, 4]);
    expect(report.totals).toEqual({ train: 13, val: 0, test: 8 });
    expect(report.imbalanceRatio).toBeCloseTo(7 / 6);
    expect(report.sizes).toEqual([
      { width: 192, height: 144, count: 20 },
      { width: 500, height: 375, count: 1 },
    ]);
    expect(report.formats).toEqual({ jpeg: 21 });
  });

  it('lists unreadable files by name', () => {
    expect(report.unreadable.map((b) => b.file)).toEqual([path.join(root, 'train/big/broken.jpg')]);
  });

  it('finds exact duplicates within and across splits', () => {
    const groups = report.exactDuplicates.map((g) => g.files.map((f) => f.path).sort());
    expect(groups).toEqual(
      expect.arrayContaining([
        ['test/big/copy.jpg', 'train/big/big_001.jpg'],
        ['train/big/big_003.jpg', 'train/small/zz_conflict.jpg'],
      ]),
    );
    expect(groups).toHaveLength(2);
    expect(report.exactDuplicates.find((g) => g.files.some((f) => f.path === 'test/big/copy.jpg'))!.crossSplit).toBe(true);
  });

  it('finds the edited copy as a near-duplicate and nothing else', () => {
    expect(report.nearDuplicates.map((p) => [p.a.path, p.b.path])).toEqual([['train/small/small_002.jpg', 'test/small/edited.jpg']]);
    expect(report.nearDuplicates[0].similarity).toBeGreaterThan(0.9);
    expect(report.nearDuplicates[0].crossSplit).toBe(true);
  });

  it('warns about train/test leakage and label conflicts', () => {
    expect(report.leakage).toHaveLength(2);
    expect(report.leakage.join('\n')).toMatch(/test\/train leakage: train\/big\/big_001.jpg and test\/big\/copy.jpg are identical/);
    expect(report.leakage.join('\n')).toMatch(/test\/train leakage: train\/small\/small_002.jpg and test\/small\/edited.jpg are near-identical/);
    expect(report.warnings.some((w) => w.startsWith('label conflict: train/big/big_003.jpg and train/small/zz_conflict.jpg'))).toBe(true);
  });

  it('formats a readable report', () => {
    const text = formatDatasetReport(report);
    expect(text).toContain(`Dataset ${root}`);
    expect(text).toMatch(/split\s+source\s+big\s+small\s+total/);
    expect(text).toMatch(/train\s+folder\s+6\s+7\s+13/);
    expect(text).toContain('Imbalance ratio (train, largest/smallest class): 1.17');
    expect(text).toContain(path.join(root, 'train/big/broken.jpg'));
    expect(text).toContain('LEAKAGE WARNINGS (2)');
    expect(text).toContain('train/small/small_002.jpg ~ test/small/edited.jpg  [cross-split]');
  });
});

describe('datasetFingerprint', () => {
  it('depends on content and labels, not on where the dataset lives', async () => {
    const a = (await generateDemoDataset(path.join(tempDir(), 'a'), { seed: 2, trainPerClass: 2, testPerClass: 1, width: 64, height: 48 })).root;
    const b = path.join(tempDir(), 'b');
    cpSync(a, b, { recursive: true });
    const fa = await datasetFingerprint(await listDataset(a));
    expect(fa).toMatch(/^[0-9a-f]{64}$/);
    expect(await datasetFingerprint(await listDataset(b))).toBe(fa);

    // One changed byte changes it.
    const f = path.join(b, 'train/big/big_001.jpg');
    const bytes = readFileSync(f);
    bytes[bytes.length - 3] ^= 1;
    writeFileSync(f, bytes);
    const fb = await datasetFingerprint(await listDataset(b, { validate: false }));
    expect(fb).not.toBe(fa);

    // Moving a file to another class changes it.
    const c = path.join(tempDir(), 'c');
    cpSync(a, c, { recursive: true });
    renameSync(path.join(c, 'train/big/big_002.jpg'), path.join(c, 'train/small/big_002.jpg'));
    expect(await datasetFingerprint(await listDataset(c))).not.toBe(fa);
  });
});

const PARTS = path.resolve(repoRoot(), '../shared/datasets/parts');

describe.skipIf(!existsSync(PARTS))('near-duplicates in the real photos', () => {
  let index: DatasetIndex;
  let planted: string;
  beforeAll(async () => {
    index = await listDataset(PARTS);
    // Plant an edited copy of a train photo into test (in a temp folder; the photos stay read-only).
    planted = path.join(tempDir(), 'test_copy_of_m12_bolt_01.jpg');
    writeFileSync(planted, await editedCopy(path.join(PARTS, 'train/big/m12_bolt_01.jpg')));
  });

  it('reports no duplicates at the default threshold in the photos as they are', async () => {
    const r = await checkDataset(index);
    expect(r.counts).toEqual({ train: [21, 11], val: [0, 0], test: [7, 7] });
    expect(r.exactDuplicates).toEqual([]);
    expect(r.nearDuplicates).toEqual([]);
    expect(r.leakage).toEqual([]);
  });

  it('flags an edited copy across train and test as leakage', async () => {
    const withCopy: DatasetIndex = { ...index, splits: { ...index.splits, test: [...index.splits.test, { file: planted, label: 0 }] } };
    const r = await checkDataset(withCopy);
    expect(r.nearDuplicates).toHaveLength(1);
    expect(r.nearDuplicates[0].a.path).toBe('train/big/m12_bolt_01.jpg');
    expect(r.nearDuplicates[0].similarity).toBeGreaterThan(0.9);
    expect(r.leakage).toHaveLength(1);
  });

  it('at a looser threshold finds the re-shots of one pose, never a big/small pair', async () => {
    const r = await checkDataset(index, { nearDupThreshold: 0.7 });
    const pairs = r.nearDuplicates.map((p) => `${path.basename(p.a.path)}~${path.basename(p.b.path)}`);
    expect(pairs).toEqual(expect.arrayContaining(['m12_bolt_09.jpg~m12_bolt_31.jpg', 'm12_bolt_13.jpg~m12_bolt_21.jpg']));
    for (const p of r.nearDuplicates) expect(p.a.className).toBe(p.b.className);
  });

  it('dHash keeps an edited copy within a few bits', async () => {
    const original = await dHash(path.join(PARTS, 'train/big/m12_bolt_01.jpg'));
    expect(original).toMatch(/^[0-9a-f]{16}$/);
    expect(hammingHex(original, await dHash(planted))).toBeLessThanOrEqual(6);
  });
});
