import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildDatasetVersion, listVersions, readManifest, splitOfHash, validateReviewed, type ReviewedPhoto } from '../src/dataset-version';
import { listDataset } from '../src/list';
import { sha256 } from '../src/hash';
import { distinctImage, makeDataset, tempDir } from './fixtures';

/** Writes n reviewed photos (distinct images, numbered from `start`) into a store folder and returns their records. */
async function reviewedPhotos(store: string, start: number, n: number, label: string, reviewer = 'ana'): Promise<ReviewedPhoto[]> {
  await fs.mkdir(store, { recursive: true });
  const out: ReviewedPhoto[] = [];
  for (let i = start; i < start + n; i++) {
    const bytes = await distinctImage(i);
    const hash = sha256(bytes);
    const file = path.join(store, `${hash}.png`);
    await fs.writeFile(file, bytes);
    out.push({ hash, file, label, reviewer, reviewedAt: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(), source: 'line-1', loggedAt: null, modelId: 'm1' });
  }
  return out;
}

const base = () => makeDataset({ train: { big: 4, small: 4 }, test: { big: 2, small: 2 } });

describe('splitOfHash', () => {
  it('is a pure function of the hash with about the stated shares', () => {
    const hashes = Array.from({ length: 4000 }, (_, i) => sha256(`photo-${i}`));
    const splits = hashes.map((h) => splitOfHash(h));
    expect(hashes.map((h) => splitOfHash(h))).toEqual(splits);
    const test = splits.filter((s) => s === 'test').length / hashes.length;
    expect(test).toBeGreaterThan(0.22);
    expect(test).toBeLessThan(0.28);
    expect(splits.every((s) => s === 'test' || s === 'train')).toBe(true);
    const withVal = hashes.map((h) => splitOfHash(h, true));
    const val = withVal.filter((s) => s === 'val').length / hashes.length;
    expect(val).toBeGreaterThan(0.12);
    expect(val).toBeLessThan(0.18);
    // Adding a val folder takes val photos only out of train: test photos stay test.
    withVal.forEach((s, i) => expect(s === 'test').toBe(splits[i] === 'test'));
  });
});

describe('dataset versions', () => {
  it('writes v1, v2… with a manifest; reviewed photos keep their split across versions; unknowns and bad photos are set apart', async () => {
    const b = await base();
    const root = tempDir();
    const store = tempDir();
    const first = await reviewedPhotos(store, 100, 12, 'big');
    const v1 = await buildDatasetVersion({ base: b, root, reviewed: first });
    expect(v1.version).toBe(1);
    expect(path.basename(v1.dir)).toBe('v1');
    const m1 = await readManifest(v1.dir);
    expect(m1.photos.filter((p) => p.origin === 'base')).toHaveLength(12);
    const rev1 = m1.photos.filter((p) => p.origin === 'review');
    expect(rev1).toHaveLength(12);
    for (const p of rev1) {
      expect(p.split).toBe(splitOfHash(p.hash));
      expect(p).toMatchObject({ label: 'big', reviewer: 'ana', source: 'line-1', modelId: 'm1' });
      expect(existsSync(path.join(v1.dir, p.path))).toBe(true);
    }
    // Every base photo's hash is the sha256 of its bytes, and its split and class are the base's.
    for (const p of m1.photos.filter((q) => q.origin === 'base')) {
      expect(sha256(await fs.readFile(path.join(v1.dir, p.path)))).toBe(p.hash);
      expect(p.path.startsWith(`${p.split}/${p.label}/`)).toBe(true);
      expect(existsSync(path.join(b, p.from))).toBe(true);
    }
    const idx = await listDataset(v1.dir);
    expect(idx.classes).toEqual(['big', 'small']);
    expect(idx.splits.train.length + idx.splits.test.length).toBe(24);

    // v2: the same reviews plus new ones, one re-labelled, a not-a-part, a bad photo.
    const more = await reviewedPhotos(store, 200, 8, 'small', 'bo');
    const unknown = await reviewedPhotos(store, 300, 3, 'not-a-part');
    const bad = await reviewedPhotos(store, 400, 2, 'bad-photo');
    const relabelled = { ...first[0], label: 'small', reviewer: 'cy', reviewedAt: '2026-02-01T00:00:00.000Z' };
    const v2 = await buildDatasetVersion({ base: b, root, reviewed: [...first, ...more, ...unknown, ...bad, relabelled] });
    expect(v2.version).toBe(2);
    expect(await listVersions(root)).toEqual([1, 2]);
    const m2 = await readManifest(v2.dir);
    const where2 = new Map(m2.photos.map((p) => [p.hash, p]));
    for (const p of rev1) expect(where2.get(p.hash)!.split).toBe(p.split); // never moves between splits
    expect(where2.get(first[0].hash)).toMatchObject({ label: 'small', reviewer: 'cy' }); // the later decision wins
    const unk = m2.photos.filter((p) => p.split === 'unknowns');
    expect(unk).toHaveLength(3);
    expect(m2.unknowns).toBe(3);
    for (const p of unk) {
      expect(p.label).toBeNull();
      expect(p.path.startsWith('unknowns/')).toBe(true);
    }
    expect(m2.excluded.map((e) => e.reason)).toEqual(['reviewed as a bad photo', 'reviewed as a bad photo']);
    for (const h of bad.map((r) => r.hash)) expect(where2.has(h)).toBe(false);
    // Unknowns are never a training class: the dataset reader sees only the two classes.
    const idx2 = await listDataset(v2.dir);
    expect(idx2.classes).toEqual(['big', 'small']);
    expect(idx2.splits.train.length + idx2.splits.test.length).toBe(12 + 12 + 8);
    expect(Object.values(idx2.splits).flat().some((s) => s.file.includes(`${path.sep}unknowns${path.sep}`))).toBe(false);
    // v1 was left as it was.
    expect((await readManifest(v1.dir)).photos).toHaveLength(24);
  });

  it('creates a new class once it has a photo in every split, and holds it back as pending until then', async () => {
    const b = await base();
    const root = tempDir();
    const store = tempDir();
    const nuts = await reviewedPhotos(store, 500, 30, 'nut');
    const trainOnly = nuts.filter((r) => splitOfHash(r.hash) === 'train').slice(0, 2);
    const v1 = await buildDatasetVersion({ base: b, root, reviewed: trainOnly });
    expect(v1.manifest.classes).toEqual(['big', 'small']);
    expect(v1.manifest.pending).toHaveLength(2);
    expect(v1.manifest.pending[0].reason).toMatch(/new class 'nut' has no reviewed photo yet in test/);
    const v2 = await buildDatasetVersion({ base: b, root, reviewed: nuts });
    expect(v2.manifest.newClasses).toEqual(['nut']);
    expect(v2.manifest.pending).toHaveLength(0);
    const idx = await listDataset(v2.dir);
    expect(idx.classes).toEqual(['big', 'nut', 'small']);
    const nutTest = nuts.filter((r) => splitOfHash(r.hash) === 'test').length;
    expect(v2.manifest.counts.test.nut).toBe(nutTest);
    expect(v2.manifest.counts.train.nut).toBe(30 - nutTest);
  });

  it('leaves no version and no temp folder when the build fails midway', async () => {
    const b = await base();
    const root = tempDir();
    const store = tempDir();
    const ok = await reviewedPhotos(store, 600, 5, 'big');
    await buildDatasetVersion({ base: b, root, reviewed: ok });
    const gone = await reviewedPhotos(store, 700, 3, 'small');
    await fs.rm(gone[1].file); // copying it fails after the base and the first photos were copied
    await expect(buildDatasetVersion({ base: b, root, reviewed: [...ok, ...gone] })).rejects.toThrow(new RegExp(`reviewed photo ${gone[1].hash}.*${path.basename(gone[1].file)}`));
    expect(await listVersions(root)).toEqual([1]);
    expect((await fs.readdir(root)).sort()).toEqual(['v1']);
    // A temp folder left by a killed build (its process gone) is cleared by the next build.
    const stale = path.join(root, '.tmp-v2-999999999');
    await fs.mkdir(stale);
    const v2 = await buildDatasetVersion({ base: b, root, reviewed: ok });
    expect(v2.version).toBe(2);
    expect(existsSync(stale)).toBe(false);
  });

  it('names the record and field of bad input', async () => {
    const good: ReviewedPhoto = { hash: 'ab', file: '/x/ab.png', label: 'big', reviewer: 'a', reviewedAt: '2026-01-01T00:00:00Z' };
    expect(() => validateReviewed([good, { ...good, file: 'rel.png' }], 'r.json')).toThrow("r.json[1]: field 'file' must be an absolute path");
    expect(() => validateReviewed([{ ...good, label: '../etc' }])).toThrow(/\[0\]: label '..\/etc' is not a usable class name/);
    expect(() => validateReviewed([{ ...good, reviewedAt: 'yesterday' }])).toThrow(/'reviewedAt' is not an ISO date/);
    const b = await makeDataset({ train: { big: 2, small: 2 } });
    await expect(buildDatasetVersion({ base: b, root: tempDir(), reviewed: [] })).rejects.toThrow(/has no test folder/);
  });
});
