// Near-duplicate groups and the splits that keep them on one side: union-find on signatures, the
// group-aware stratified split (seeded), listDataset with a group threshold on generated photos
// with near-copies, and the real parts photos (skipped when ../shared/datasets is absent).
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { groupsFromSignatures, groupStratifiedSplit, listDataset, makeRng, normalizeSignatures, recordedGroupCrowd, signatureSimilarity, type Sample } from '../src/index';

const unit = (v: number[]) => {
  const n = Math.hypot(...v);
  return Float32Array.from(v, (x) => x / n);
};

describe('groupsFromSignatures', () => {
  it('joins same-class pairs at or above the threshold, transitively, and never across classes', () => {
    // a ~ b (0.8), b ~ c (0.8), a·c below the threshold: one group by the chain; d is like a but another class.
    const a = unit([1, 0, 0]);
    const b = unit([0.8, 0.6, 0]);
    const c = unit([0.28, 0.96, 0]);
    const d = unit([1, 0.01, 0]);
    const e = unit([0, 0, 1]);
    const g = groupsFromSignatures([a, b, c, d, e], [0, 0, 0, 1, 0], 0.7);
    expect(g.groupOf[0]).toBe(g.groupOf[1]);
    expect(g.groupOf[1]).toBe(g.groupOf[2]);
    expect(g.groupOf[3]).not.toBe(g.groupOf[0]);
    expect(g.groupOf[4]).not.toBe(g.groupOf[0]);
    expect(g).toMatchObject({ count: 3, largest: 3, threshold: 0.7 });
    // A stricter threshold breaks the chain.
    expect(groupsFromSignatures([a, b, c, d, e], [0, 0, 0, 1, 0], 0.9).count).toBe(5);
    expect(() => groupsFromSignatures([a], [0], 0)).toThrow(/threshold must be in \(0, 1\]/);
  });

  // Smooth random fields (a few low-frequency waves, like blurred photos), as raw signatures.
  const fields = (seed: string) => {
    const rng = makeRng(seed);
    const side = 64;
    const field = () => {
      const waves = Array.from({ length: 6 }, () => ({ fx: rng() * 4, fy: rng() * 4, phase: rng() * 6.3, amp: rng() }));
      return Array.from({ length: side * side }, (_, k) => waves.reduce((s, w) => s + w.amp * Math.sin((w.fx * (k % side)) / 10 + (w.fy * Math.floor(k / side)) / 10 + w.phase), 0));
    };
    const noisy = (base: ArrayLike<number>, amount: number) => Float32Array.from(base, (x) => x + (rng() - 0.5) * amount);
    return { field, noisy };
  };

  /** The definition, pair by pair: same class, at least t alike, and (for a photo with 10+ same-class neighbours at t) closer than its 5th. */
  function groupedByDefinition(sigs: Float32Array[], labels: number[], t: number): (i: number, j: number) => boolean {
    const n = sigs.length;
    const sim = (i: number, j: number) => signatureSimilarity(sigs[i]!, sigs[j]!);
    const ref = sigs.map((_, i) => {
      const near = sigs.map((_, j) => (j !== i && labels[j] === labels[i] ? sim(i, j) : -Infinity)).filter((v) => v >= t).sort((a, b) => b - a);
      return near.length >= 10 ? near[4]! : null;
    });
    const parent = sigs.map((_, i) => i);
    const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
    for (let i = 0; i < n; i++)
      for (let j = i + 1; j < n; j++) {
        if (labels[i] !== labels[j] || sim(i, j) < t) continue;
        const refs = [ref[i], ref[j]].filter((r): r is number => r !== null);
        if (refs.length && 1 - sim(i, j) > 0.4 * (1 - Math.max(...refs)) + 1e-12) continue;
        parent[Math.max(find(i), find(j))] = Math.min(find(i), find(j));
      }
    return (i, j) => find(i) === find(j);
  }

  it('on 64×64 signatures groups exactly as the definition, pair by pair', () => {
    // Noisy near-copies of some fields, in three classes.
    const { field, noisy } = fields('groups-exact');
    const raw: Float32Array[] = [];
    for (let i = 0; i < 90; i++) raw.push(noisy(i % 3 === 0 && raw.length ? raw[raw.length - 1]! : field(), 0.8));
    const sigs = normalizeSignatures(raw);
    const labels = sigs.map((_, i) => (i % 4 === 3 ? 1 : Math.floor(i / 40)));
    for (const threshold of [0.3, 0.6, 0.9]) {
      const together = groupedByDefinition(sigs, labels, threshold);
      const g = groupsFromSignatures(sigs, labels, threshold);
      let joined = 0;
      for (let i = 0; i < sigs.length; i++)
        for (let j = i + 1; j < sigs.length; j++) {
          expect(g.groupOf[i] === g.groupOf[j], `${i}, ${j} at ${threshold}`).toBe(together(i, j));
          if (together(i, j)) joined++;
        }
      if (threshold === 0.6) expect(joined).toBeGreaterThan(10); // the copies are there to be found
    }
  });

  it('keeps a burst of up to 10 re-shots of one pose in one group', () => {
    // Re-shots alike at about 0.7 with each other, among unrelated photos of the same class.
    const rng = makeRng('bursts');
    const gauss = () => Math.sqrt(-2 * Math.log(rng() + 1e-12)) * Math.cos(2 * Math.PI * rng());
    const unitVec = (v: number[]) => {
      const n = Math.hypot(...v);
      return Float32Array.from(v, (x) => x / n);
    };
    const random = () => Array.from({ length: 4096 }, gauss);
    for (const burst of [6, 10]) {
      const pose = random();
      const sigs = [
        ...Array.from({ length: burst }, () => unitVec(random().map((x, k) => 0.65 * x + pose[k]!))),
        ...Array.from({ length: 20 }, () => unitVec(random())),
      ];
      expect(signatureSimilarity(sigs[0]!, sigs[1]!)).toBeGreaterThan(0.6);
      expect(signatureSimilarity(sigs[0]!, sigs[1]!)).toBeLessThan(0.8);
      const g = groupsFromSignatures(sigs, sigs.map(() => 0), 0.6);
      expect(new Set(g.groupOf.slice(0, burst)).size, `a burst of ${burst}`).toBe(1);
      expect(g.count).toBe(21);
    }
  });

  it('does not chain a class of look-alike photos into one group, but still joins its copies', () => {
    // 40 photos of one class that all look alike (one scene, each with its own variation), three of
    // them with a near-copy; a plain threshold chains the whole class together.
    const { field, noisy } = fields('look-alikes');
    const scene = field();
    const raw: Float32Array[] = [];
    for (let i = 0; i < 40; i++) raw.push(Float32Array.from(scene, (x, k) => x + 0.7 * Math.sin(k * (0.01 + i * 0.003) + i)));
    for (const i of [3, 17, 29]) raw.push(noisy(raw[i]!, 0.05));
    // Zero-mean, unit-norm without the dataset median (which would take the shared scene away here;
    // on real look-alike sets such as casting their signatures stay alike after it).
    const sigs = raw.map((r) => {
      const mean = r.reduce((a, b) => a + b, 0) / r.length;
      const v = Float32Array.from(r, (x) => x - mean);
      const norm = Math.hypot(...v);
      return v.map((x) => x / norm);
    });
    const labels = sigs.map(() => 0);
    const sim = (i: number, j: number) => signatureSimilarity(sigs[i]!, sigs[j]!);
    let alike = 0;
    for (let i = 0; i < 40; i++) for (let j = i + 1; j < 40; j++) if (sim(i, j) >= 0.6) alike++;
    expect(alike).toBeGreaterThan(200); // most pairs of the scene reach the threshold
    const g = groupsFromSignatures(sigs, labels, 0.6);
    expect(g.groupOf[40]).toBe(g.groupOf[3]);
    expect(g.groupOf[41]).toBe(g.groupOf[17]);
    expect(g.groupOf[42]).toBe(g.groupOf[29]);
    expect(g.largest).toBeLessThanOrEqual(3);
    expect(g.count).toBeGreaterThanOrEqual(38);
    // An infinite crowd joins every pair at the threshold: how runs recorded before the rule grouped
    // (recordedGroupCrowd gives it for a run whose groups name no crowd).
    expect(groupsFromSignatures(sigs, labels, 0.6, Infinity).largest).toBeGreaterThan(30);
    expect(recordedGroupCrowd(undefined)).toBe(Infinity);
    expect(recordedGroupCrowd({ crowd: null })).toBe(Infinity);
    expect(recordedGroupCrowd({ crowd: 10 })).toBe(10);
  });
});

/** n photos per class in groups of `size`: file names say class and group. */
function grouped(classes: number, groups: number, size: number): { samples: Sample[]; groupOf: Map<string, number> } {
  const samples: Sample[] = [];
  const groupOf = new Map<string, number>();
  let id = 0;
  for (let c = 0; c < classes; c++) {
    for (let g = 0; g < groups; g++, id++) {
      for (let k = 0; k < size + (g % 3 === 0 ? 1 : 0); k++) {
        const file = `/d/c${c}/g${String(g).padStart(2, '0')}_${k}.jpg`;
        samples.push({ file, label: c });
        groupOf.set(file, id);
      }
    }
  }
  return { samples, groupOf };
}

describe('groupStratifiedSplit', () => {
  const { samples, groupOf } = grouped(2, 12, 3);
  const classes = ['a', 'b'];

  it('keeps every group on one side, near the asked fraction per class, reproducibly by seed', () => {
    const r = groupStratifiedSplit(samples, classes, 0.25, 7, 'val', groupOf);
    expect(r.kept.length + r.taken.length).toBe(samples.length);
    const keptGroups = new Set(r.kept.map((s) => groupOf.get(s.file)));
    expect(r.taken.every((s) => !keptGroups.has(groupOf.get(s.file)))).toBe(true);
    for (const label of [0, 1]) {
      const own = samples.filter((s) => s.label === label).length;
      const taken = r.taken.filter((s) => s.label === label).length;
      // Within one group (at most 4 photos) of the target.
      expect(Math.abs(taken - Math.round(own * 0.25))).toBeLessThanOrEqual(4);
      expect(taken).toBeGreaterThan(0);
    }
    expect(groupStratifiedSplit(samples, classes, 0.25, 7, 'val', groupOf)).toEqual(r);
    const other = groupStratifiedSplit(samples, classes, 0.25, 8, 'val', groupOf);
    expect(other.taken.map((s) => s.file)).not.toEqual(r.taken.map((s) => s.file));
    // The purpose keys the stream too: the test and val draws differ for one seed.
    expect(groupStratifiedSplit(samples, classes, 0.25, 7, 'test', groupOf).taken).not.toEqual(r.taken);
  });

  it('does not depend on how the group ids are numbered or on the input order', () => {
    const renumbered = new Map([...groupOf].map(([f, g]) => [f, 1000 - g]));
    const shuffledInput = [...samples].sort(() => 0).reverse();
    const a = groupStratifiedSplit(samples, classes, 0.3, 3, 'val', groupOf);
    const b = groupStratifiedSplit(shuffledInput, classes, 0.3, 3, 'val', renumbered);
    expect(b).toEqual(a);
  });

  it('keeps at least one group on each side, and names a file without a group', () => {
    const two = grouped(1, 2, 5);
    const r = groupStratifiedSplit(two.samples, ['a'], 0.9, 1, 'val', two.groupOf);
    expect(r.kept.length).toBeGreaterThan(0);
    expect(r.taken.length).toBeGreaterThan(0);
    expect(() => groupStratifiedSplit([{ file: '/x.jpg', label: 0 }], ['a'], 0.5, 1, 'val', new Map())).toThrow(/\/x\.jpg has no near-duplicate group/);
  });
});

/** Photos of a dark bar on light paper; copies of one pose differ by a few grey levels and a pixel's shift. */
async function barPhoto(file: string, pose: number, copy: number): Promise<void> {
  const r = makeRng(`pose${pose}`);
  const w = 160;
  const h = 120;
  const data = Buffer.alloc(w * h * 3);
  const cx = 30 + r() * 100;
  const cy = 30 + r() * 60;
  const a = r() * Math.PI;
  const len = 30 + r() * 30;
  const shift = copy;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const u = (x - cx - shift) * Math.cos(a) + (y - cy) * Math.sin(a);
      const v = -(x - cx - shift) * Math.sin(a) + (y - cy) * Math.cos(a);
      const inside = Math.abs(u) < len / 2 && Math.abs(v) < 5;
      const paper = 200 + 30 * Math.sin(x / 40 + pose) + copy * 2;
      data.fill(inside ? 40 : Math.min(255, paper), (y * w + x) * 3, (y * w + x) * 3 + 3);
    }
  }
  await mkdir(path.dirname(file), { recursive: true });
  await sharp(data, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 92 }).toFile(file);
}

describe('listDataset with near-duplicate groups', () => {
  let root: string;
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('keeps every group of near-copies on one side of the generated test and val splits, and counts the groups', async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'groups-'));
    // 2 classes × 8 poses × 3 near-copies (train folder only: test and val are generated).
    for (const [c, cls] of ['a', 'b'].entries()) {
      for (let pose = 0; pose < 8; pose++) {
        for (let copy = 0; copy < 3; copy++) await barPhoto(path.join(root, 'train', cls, `p${pose}_${copy}.jpg`), c * 100 + pose, copy);
      }
    }
    const pose = (f: string) => `${path.basename(path.dirname(f))}/${path.basename(f).split('_')[0]}`;
    const index = await listDataset(root, { valSplit: 0.25, seed: 5, groupThreshold: 0.6, validate: false });
    expect(index.groups).toBeDefined();
    // The three copies of a pose are one group; the poses are not joined.
    expect(index.groups!.total).toBe(16);
    const side = new Map<string, string>();
    for (const split of ['train', 'val', 'test'] as const) {
      for (const s of index.splits[split]) {
        const p = pose(s.file);
        expect(side.get(p) ?? split, `${p} is in ${side.get(p)} and ${split}`).toBe(split);
        side.set(p, split);
      }
    }
    const c = index.groups!.counts;
    expect(c.train! + c.val! + c.test!).toBe(16);
    expect(c.test).toBeGreaterThanOrEqual(2);
    expect(c.val).toBeGreaterThanOrEqual(2);
    // Reproducible: the same options list the same splits. The progress callback sees every photo of
    // each stage counted once, up to the stage's total.
    const seen: Record<string, number[]> = {};
    const again = await listDataset(root, { valSplit: 0.25, seed: 5, groupThreshold: 0.6, onProgress: (stage, done, total) => (seen[`${stage}/${total}`] ??= []).push(done) });
    expect(again.splits).toEqual(index.splits);
    expect(Object.keys(seen).sort()).toEqual(['comparing/1128', 'grouping/48', 'reading/48']);
    for (const stage of ['grouping/48', 'reading/48']) expect(seen[stage]).toEqual(Array.from({ length: 48 }, (_, i) => i + 1));
    // Pairs of the 48 signatures, counted row by row up to all 48·47/2 of them.
    const pairs = seen['comparing/1128']!;
    expect(pairs.every((d, i) => i === 0 || d > pairs[i - 1]!)).toBe(true);
    expect(pairs.at(-1)).toBe(1128);
    // Photo by photo (0), the copies of some pose land on both sides.
    const plain = await listDataset(root, { valSplit: 0.25, seed: 5, validate: false });
    expect(plain.groups).toBeUndefined();
    const sides = new Map<string, Set<string>>();
    for (const split of ['train', 'val', 'test'] as const) for (const s of plain.splits[split]) sides.set(pose(s.file), (sides.get(pose(s.file)) ?? new Set()).add(split));
    expect([...sides.values()].some((v) => v.size > 1)).toBe(true);
    await expect(listDataset(root, { groupThreshold: 1.5, validate: false })).rejects.toThrow(/groupThreshold must be 0 \(no grouping\) or a similarity in \(0, 1\], got 1.5/);
  }, 120_000);

  const PARTS = path.join(__dirname, '..', '..', '..', '..', 'shared', 'datasets', 'parts');
  it.skipIf(!existsSync(PARTS))('on the real parts photos, no near-duplicate group spans train and val', async () => {
    const index = await listDataset(PARTS, { valSplit: 0.2, seed: 42, groupThreshold: 0.6, validate: false });
    const of = index.groupOf!;
    const trainGroups = new Set(index.splits.train.map((s) => of.get(s.file)));
    expect(index.splits.val.every((s) => !trainGroups.has(of.get(s.file)))).toBe(true);
    // Some photos of the parts train folder are near-copies (29 groups of 32 photos at 0.6).
    expect(index.groups!.total).toBeLessThan(index.splits.train.length + index.splits.val.length);
    expect(index.groups!.counts.test).toBeNull();
    console.log(`parts: ${index.groups!.total} groups; train ${index.splits.train.length} photos / ${index.groups!.counts.train} groups, val ${index.splits.val.length} / ${index.groups!.counts.val}`);
  }, 120_000);
});
