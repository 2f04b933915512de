// Near-duplicate detection measured for precision and recall: the bounded pair search against brute
// force, the neighbourhood rule on constructed signatures, and on real photos (skipped when
// ../shared/datasets is absent) planted edited copies must be found with their original (recall),
// and nothing else may be (precision); texture photos must not flood the report with look-alikes.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  listDataset,
  makeRng,
  nearDuplicatePairs,
  normalizeSignatures,
  nthSmallest,
  signatureSimilarity,
  similarPairs,
  type Signature,
} from '../src/index';
import { SHARED, expectFoundExactly, plantAndCheck } from './planted-copies';

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
  it('finds exactly the pairs brute force finds, with the same similarities, at any floor (with and without the principal step)', () => {
    const rng = makeRng(1);
    // Signatures that vary mostly along 12 smooth 64×64 patterns, as photos vary mostly in their
    // coarse content, plus pixel noise, each at its own distance from its family's base: the
    // similarities spread over the whole range, so pairs lie just above and below every floor.
    const smooth = (fx: number, fy: number, phase: number) =>
      Float32Array.from({ length: 4096 }, (_, p) => Math.cos((2 * Math.PI * (fx * (p % 64) + fy * Math.floor(p / 64))) / 64 + phase));
    const patterns = Array.from({ length: 12 }, (_, k) => smooth(1 + (k % 4), 1 + Math.floor(k / 4), rng() * 6));
    const bases = Array.from({ length: 3 }, () => randomUnit(4096, rng));
    const signature = (i: number) => {
      const spread = 0.02 + (3 * (i % 37)) / 37;
      const v = bases[i % 3].map((x, p) => x + 0.002 * (rng() * 2 - 1));
      for (const pat of patterns) {
        const w = (spread * (rng() * 2 - 1)) / 200;
        for (let p = 0; p < 4096; p++) v[p] += w * pat[p];
      }
      return normalizeSignatures([v])[0];
    };
    for (const n of [60, 300]) {
      const sigs = Array.from({ length: n }, (_, i) => signature(i));
      const skip = (i: number, j: number) => (i * 7 + j) % 11 === 0;
      for (const floor of [0.2, 0.5, 0.75, 0.9, 0.99]) {
        const brute: { i: number; j: number; similarity: number }[] = [];
        let below = 0;
        for (let i = 0; i < sigs.length; i++) {
          for (let j = i + 1; j < sigs.length; j++) {
            const similarity = signatureSimilarity(sigs[i], sigs[j]);
            if (skip(i, j)) continue;
            if (similarity >= floor) brute.push({ i, j, similarity });
            else if (similarity >= floor - 0.05) below++;
          }
        }
        expect(similarPairs(sigs, floor, skip)).toEqual(brute);
        // Both sides of the floor are populated near it.
        expect(brute.filter((p) => p.similarity < floor + 0.05).length).toBeGreaterThan(0);
        expect(below).toBeGreaterThan(0);
      }
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

describe('nthSmallest', () => {
  it('gives the value a full sort puts at each index, duplicates included', () => {
    const rng = makeRng(4);
    for (const n of [1, 2, 3, 10, 101]) {
      const v = Float32Array.from({ length: n }, () => Math.round(rng() * 8) / 4 - 1);
      const sorted = v.slice().sort();
      for (let k = 0; k < n; k++) expect(nthSmallest(v.slice(), k)).toBe(sorted[k]);
    }
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
