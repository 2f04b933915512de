// The data check on two industrial sets (skipped when ../shared/datasets is absent; slow: every photo
// of each set is read): on NEU textures it must not flood the report with look-alikes, on casting it
// must report the train/test leakage; planted copies must be found with their originals.
import { copyFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkDataset, listDataset, type DatasetIndex, type DatasetReport } from '../src/index';
import { tempDir } from './fixtures';
import { SHARED, expectFoundExactly, plantAndCheck } from './planted-copies';

const NEU = path.join(SHARED, 'neu');
describe.skipIf(!existsSync(NEU))('near-duplicates in the NEU steel-surface textures', () => {
  let index: DatasetIndex;
  let report: DatasetReport;
  beforeAll(async () => {
    index = await listDataset(NEU);
    report = await checkDataset(index);
  }, 600_000);

  it('does not flood: at most 5 warnings, and the one real copy is found', () => {
    expect(report.totals).toEqual({ train: 1200, val: 0, test: 300 });
    expect(report.warnings.length).toBeLessThanOrEqual(5);
    expect(report.warnings.filter((w) => w.includes('near-identical'))).toEqual([]);
    // patches_101 and patches_105 are the same file; the ~1,700 look-alike pairs are set aside.
    expect(report.exactDuplicates.map((g) => g.files.map((f) => f.path))).toEqual([['train/patches/patches_101.jpg', 'train/patches/patches_105.jpg']]);
    expect(report.nearDuplicates).toEqual([]);
    expect(report.lookAlikePairs).toBeGreaterThan(1000);
    expect(report.leakage).toEqual([]);
  });

  it('keeps the near-duplicate groups of a split small: look-alike textures are not chained into one', async () => {
    // Plain chaining of the pairs at the group threshold made a group of 177 photos here.
    const grouped = await listDataset(NEU, { valSplit: 0.2, groupThreshold: 0.6, validate: false });
    expect(grouped.groups!.largest).toBeLessThanOrEqual(40); // 32
    expect(grouped.groups!.total).toBeGreaterThan(900); // 1,024 of 1,200 photos
    // The validation split holds about its share of every class.
    const perClass = (split: 'train' | 'val') => grouped.classes.map((_, c) => grouped.splits[split].filter((s) => s.label === c).length);
    for (const [c, n] of perClass('val').entries()) expect(n / (n + perClass('train')[c]!)).toBeCloseTo(0.2, 1);
  }, 600_000);

  it('finds planted re-encoded, resized and brightened copies, each with its own original, and nothing else', async () => {
    const { report: r, planted } = await plantAndCheck(index, 12);
    expectFoundExactly(r, planted);
    // A copy of a train photo (planted into test) is leakage; a copy of a test photo is not.
    expect(r.leakage.length).toBe(planted.filter((p) => p.original.startsWith('train/')).length);
    expect(r.leakage.length).toBeGreaterThan(0);
  }, 600_000);
});

const CASTING = path.join(SHARED, 'casting');
describe.skipIf(!existsSync(CASTING))('near-duplicates in the casting photos', () => {
  let report: DatasetReport;
  let planted: { copy: string; original: string }[];
  let identical: string;
  beforeAll(async () => {
    const index: DatasetIndex = await listDataset(CASTING);
    // The shared test split had its byte-identical photos removed: put one back (a copy in a temp folder).
    const original = index.splits.train[0];
    identical = path.join(tempDir(), 'identical.jpeg');
    copyFileSync(original.file, identical);
    index.splits.test.push({ file: identical, label: original.label });
    ({ report, planted } = await plantAndCheck(index, 6));
  }, 1_800_000);

  it('reports the byte-identical copy and the near-identical train/test pairs as leakage', () => {
    expect(report.totals).toEqual({ train: 6633, val: 0, test: 325 + 1 + 6 });
    const exact = report.exactDuplicates.filter((g) => g.crossSplit);
    expect(exact).toHaveLength(1);
    expect(exact[0].files.map((f) => f.path)).toContain(path.relative(CASTING, identical).split(path.sep).join('/'));
    const ownLeaks = report.nearDuplicates.filter((p) => p.crossSplit && !planted.some((c) => [p.a.path, p.b.path].includes(c.copy)));
    // Measured: 133 near-identical train/test pairs among the photos as shared (similarity 0.90-0.998).
    expect(ownLeaks.length).toBeGreaterThanOrEqual(120);
    expect(ownLeaks.length).toBeLessThanOrEqual(150);
    expect(report.leakage.length).toBeGreaterThanOrEqual(1 + ownLeaks.length + planted.length);
  });

  it('finds every planted copy with its original', () => {
    const key = (a: string, b: string) => [a, b].sort().join(' ~ ');
    const found = new Set(report.nearDuplicates.map((p) => key(p.a.path, p.b.path)));
    for (const c of planted) expect(found).toContain(key(c.copy, c.original));
  });
});
