// Near-duplicate detection measured for precision and recall: the pooled-bound search against brute
// force, the neighbourhood rule on constructed signatures, and on real photos (skipped when
// ../shared/datasets is absent) planted edited copies must be found with their original (recall),
// and nothing else may be (precision); texture photos must not flood the report with look-alikes.
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '@parts/cli';
import {
  checkDataset,
  listDataset,
  makeRng,
  nearDuplicatePairs,
  normalizeSignatures,
  shuffled,
  signatureSimilarity,
  similarPairs,
  type DatasetIndex,
  type DatasetReport,
  type Signature,
} from '../src/index';
import { tempDir } from './fixtures';

/** Unit vectors: `base` plus noise of the given size, normalised. */
function around(base: Float32Array, noise: number, rng: () => number): Float32Array {
  const v = base.map((x) => x + noise * (rng() * 2 - 1));
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

function randomUnit(len: number, rng: () => number): Float32Array {
  return around(new Float32Array(len), 1, rng);
}

describe('similarPairs', () => {
  it('finds exactly the pairs brute force finds, at any floor', () => {
    const rng = makeRng(1);
    // 64×64 signatures in a few tight families, so that all ranges of similarity occur.
    const bases = Array.from({ length: 4 }, () => randomUnit(4096, rng));
    const sigs = Array.from({ length: 60 }, (_, i) => around(bases[i % 4], [0.002, 0.01, 0.03, 0.2][i % 4], rng));
    for (const floor of [0.2, 0.5, 0.9, 0.99]) {
      const brute: string[] = [];
      for (let i = 0; i < sigs.length; i++) for (let j = i + 1; j < sigs.length; j++) if (signatureSimilarity(sigs[i], sigs[j]) >= floor) brute.push(`${i}-${j}`);
      const fast = similarPairs(sigs, floor).map((p) => `${p.i}-${p.j}`);
      expect(fast.sort()).toEqual(brute.sort());
      expect(brute.length).toBeGreaterThan(0);
    }
  });

  it('never compares skipped pairs, and handles all-zero (featureless) signatures', () => {
    const rng = makeRng(2);
    const a = randomUnit(4096, rng);
    const sigs = [a, a.slice(), new Float32Array(4096), a.slice()];
    const pairs = similarPairs(sigs, 0.5, (i, j) => i === 0 && j === 1).map((p) => `${p.i}-${p.j}`);
    expect(pairs).toEqual(['0-3', '1-3']);
  });
});

describe('nearDuplicatePairs', () => {
  it('keeps a copy that stands out from its neighbours and sets look-alikes aside', () => {
    const rng = makeRng(3);
    // A "texture": 30 photos that all look alike (pairwise ~0.97), and one of them copied (~0.999).
    const texture = randomUnit(4096, rng);
    const sigs: Signature[] = Array.from({ length: 30 }, () => around(texture, 0.003, rng));
    sigs.push(around(sigs[7], 0.0003, rng));
    const between = signatureSimilarity(sigs[0], sigs[1]);
    expect(between).toBeGreaterThan(0.9);
    const r = nearDuplicatePairs(sigs, { threshold: 0.9 });
    expect(r.pairs.map((p) => [p.i, p.j])).toEqual([[7, 30]]);
    expect(r.pairs[0].similarity).toBeGreaterThan(0.99);
    expect(r.lookAlikes.length).toBe((31 * 30) / 2 - 1);
    // The threshold alone (a rank beyond the set: no neighbour to judge against) keeps every pair.
    expect(nearDuplicatePairs(sigs, { threshold: 0.9, rank: 1000 }).pairs).toHaveLength((31 * 30) / 2);
  });

  it('keeps a group of up to NEIGHBOUR_RANK copies of one photo among distinct photos', () => {
    const rng = makeRng(4);
    const sigs: Signature[] = Array.from({ length: 40 }, () => randomUnit(4096, rng));
    for (let k = 0; k < 4; k++) sigs.push(around(sigs[0], 0.004, rng));
    const r = nearDuplicatePairs(sigs, { threshold: 0.9 });
    expect(r.pairs).toHaveLength((5 * 4) / 2);
    expect(r.lookAlikes).toEqual([]);
  });

  it('with fewer images than the rank keeps every pair above the threshold', () => {
    const rng = makeRng(5);
    const a = randomUnit(4096, rng);
    const r = nearDuplicatePairs([a, around(a, 0.003, rng), around(a, 0.003, rng)], { threshold: 0.9 });
    expect(r.pairs).toHaveLength(3);
  });

  it('refuses out-of-range rules', () => {
    expect(() => nearDuplicatePairs([], { threshold: 0 })).toThrow(/threshold must be in \(0, 1\], got 0/);
    expect(() => nearDuplicatePairs([], { threshold: 0.9, rank: 0 })).toThrow(/rank must be a whole number >= 1/);
    expect(() => nearDuplicatePairs([], { threshold: 0.9, ratio: 1.5 })).toThrow(/ratio must be in \(0, 1\]/);
  });
});

const SHARED = path.resolve(repoRoot(), '../shared/datasets');

const EDITS: [string, (file: string) => Promise<Buffer>][] = [
  ['re-encoded', (f) => sharp(f).jpeg({ quality: 60 }).toBuffer()],
  ['resized', async (f) => sharp(f).resize(Math.round(((await sharp(f).metadata()).width ?? 200) * 0.6)).jpeg({ quality: 85 }).toBuffer()],
  ['brightened', (f) => sharp(f).modulate({ brightness: 1.15 }).jpeg({ quality: 90 }).toBuffer()],
];

/**
 * Plants one edited copy of each of `count` seeded-random photos into the test split (files in a
 * temp folder; the photos stay read-only) and checks the whole set.
 */
async function plantAndCheck(index: DatasetIndex, count: number): Promise<{ report: DatasetReport; planted: { copy: string; original: string }[] }> {
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

function expectFoundExactly(report: DatasetReport, planted: { copy: string; original: string }[]) {
  const key = (a: string, b: string) => [a, b].sort().join(' ~ ');
  const found = report.nearDuplicates.map((p) => key(p.a.path, p.b.path)).sort();
  expect(found).toEqual(planted.map((p) => key(p.copy, p.original)).sort());
}

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

  it('finds planted re-encoded, resized and brightened copies, each with its own original, and nothing else', async () => {
    const { report: r, planted } = await plantAndCheck(index, 12);
    expectFoundExactly(r, planted);
    expect(r.leakage.length).toBe(planted.length);
  }, 600_000);
});

const BOLTS = path.join(SHARED, 'bolts-nuts');
describe.skipIf(!existsSync(BOLTS))('near-duplicates in the bolts and nuts photos', () => {
  it('finds planted copies with their originals and nothing else', async () => {
    const { report, planted } = await plantAndCheck(await listDataset(BOLTS), 24);
    expectFoundExactly(report, planted);
    expect(report.lookAlikePairs).toBe(0);
  }, 300_000);
});

// The signature test: an exact copy normalised with its set scores 1; the constant is what check.ts reads.
describe('normalizeSignatures', () => {
  it('gives identical raw signatures similarity 1', () => {
    const rng = makeRng(6);
    const raws = Array.from({ length: 12 }, () => randomUnit(64, rng));
    raws.push(raws[3].slice());
    const n = normalizeSignatures(raws);
    expect(signatureSimilarity(n[3], n[12])).toBeCloseTo(1, 5);
  });
});
