// The silhouette part of the OOD detector: fit and threshold on drawn shapes, the rule that leaves
// it out on cluttered photos, ood.json round trips (parts-ood/2 with the part, parts-ood/1 read as
// a detector without it), decide() with both parts, and the real parts photos against nuts.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { decodeImage, farOodSet, listDataset, type RawImage } from '@parts/data';
import { decide, fitDetector, fitSilhouettePart, measureShapes, readOodFile, writeOodFile, OOD_JSON, type FitData } from '../src/ood/index';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});
async function tmp(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'ood-sil-'));
  dirs.push(d);
  return d;
}

const S = 96;
function draw(inside: (x: number, y: number) => boolean, paper = 225): RawImage {
  const data = new Uint8Array(S * S * 3);
  for (let i = 0; i < S * S; i++) data.fill(inside(i % S, Math.floor(i / S)) ? 35 : paper, i * 3, i * 3 + 3);
  return { data, width: S, height: S };
}
/** A bar of length L and width W turned by `a`, centred at (cx, cy): a "bolt". */
const bar = (cx: number, cy: number, L: number, W: number, a: number) => (x: number, y: number) =>
  Math.abs((x - cx) * Math.cos(a) + (y - cy) * Math.sin(a)) < L / 2 && Math.abs(-(x - cx) * Math.sin(a) + (y - cy) * Math.cos(a)) < W / 2;
/** A ring: a "nut". */
const ring = (cx: number, cy: number, r: number, R: number) => (x: number, y: number) => {
  const d2 = (x - cx) ** 2 + (y - cy) ** 2;
  return d2 <= R * R && d2 > r * r;
};
function bolts(n: number, seed: string): RawImage[] {
  const r = seedrandom(seed);
  return Array.from({ length: n }, () => draw(bar(30 + r() * 36, 30 + r() * 36, 36 + r() * 8, 8 + r() * 2, r() * Math.PI)));
}
function nuts(n: number, seed: string): RawImage[] {
  const r = seedrandom(seed);
  return Array.from({ length: n }, () => draw(ring(30 + r() * 36, 30 + r() * 36, 4 + r(), 10 + r() * 2)));
}

function rows(n: number, seed: string): FitData {
  const r = seedrandom(seed);
  const labels = Array.from({ length: n }, (_, i) => i % 2);
  const features = Float32Array.from({ length: n * 4 }, (_, j) => r() + (Math.floor(j / 4) % 2 === j % 2 ? 3 : 0));
  const logits = Float32Array.from({ length: n * 2 }, (_, j) => r() + (labels[Math.floor(j / 2)] === j % 2 ? 3 : 0));
  return { features, logits, labels, n, featureDim: 4, numClasses: 2 };
}

describe('silhouette part', () => {
  it("counts groups of photos, not shapes, for its threshold's confidence bound", () => {
    const train = measureShapes(bolts(150, 'units-train'));
    const val = measureShapes(bolts(60, 'units-val'));
    // 210 shapes, each its own photo: enough for the bound at 95%; in groups of 5 (42 photos) not.
    const single = fitSilhouettePart(train, val, { acceptRate: 0.95 }).part!;
    expect(single.fittedOn).toMatchObject({ thresholdN: 210, thresholdRule: 'confidence bound' });
    const fives = (n: number, from: number) => Array.from({ length: n }, (_, i) => from + Math.floor(i / 5));
    const grouped = fitSilhouettePart(train, val, { acceptRate: 0.95, trainGroups: fives(150, 0), valGroups: fives(60, 1000) }).part!;
    expect(grouped.fittedOn).toMatchObject({ thresholdN: 210, thresholdRule: 'quantile', thresholdGroups: 42 });
    expect(single.fittedOn).not.toHaveProperty('thresholdGroups');
    expect(() => fitSilhouettePart(train, val, { valGroups: fives(59, 0) })).toThrow(/59 groups for 60 validation shapes/);
    // fitDetector's validation groups are the silhouette part's too.
    const det = fitDetector(rows(150, 'units-train-rows'), rows(60, 'units-val-rows'), ['a', 'b'], {
      method: 'knn',
      calibrate: false,
      silhouette: { train, val, options: { trainGroups: fives(150, 0) } },
      valGroups: fives(60, 1000),
    });
    expect(det.silhouette!.fittedOn).toMatchObject({ thresholdN: 210, thresholdRule: 'quantile', thresholdGroups: 42 });
    expect(det.fittedOn.thresholdGroups).toBe(12);
  });

  it('fitted on bars: accepts new bars, rejects rings, frames without an object and far-OOD images', () => {
    const fit = fitSilhouettePart(measureShapes(bolts(30, 'train')), measureShapes(bolts(10, 'val')), { acceptRate: 0.95 });
    expect(fit.problem).toBeNull();
    const part = fit.part!;
    expect(part.fittedOn).toMatchObject({ n: 30, thresholdN: 40, found: 1 });
    const accepted = (ims: RawImage[]) => ims.filter((im) => part.scorer.score(part.scorer.measure(im)) >= part.threshold).length;
    expect(accepted(bolts(20, 'test'))).toBeGreaterThanOrEqual(17);
    expect(accepted(nuts(20, 'nuts'))).toBe(0);
    expect(part.scorer.score(null)).toBe(-Infinity);
    expect(accepted([draw(() => false)])).toBe(0);
    expect(accepted(farOodSet(S, 2, 1).map((f) => f.image))).toBe(0);
  });

  it('is left out, with the reason, when the fit photos have no consistent silhouette', () => {
    const split = (kind: 'text' | 'noise') => {
      const ims = farOodSet(S, 10, 1, [kind]).map((f) => f.image);
      return fitSilhouettePart(measureShapes(ims.slice(0, 7)), measureShapes(ims.slice(7)));
    };
    const text = split('text');
    expect(text.part).toBeNull();
    expect(text.problem).toMatch(/cluttered: median .* dark pixels outside the main object/);
    expect(split('noise').problem).toMatch(/the dark "object" fills most of the fit photos/);
    const blank = farOodSet(S, 10, 1, ['blank']).map((f) => f.image);
    expect(fitSilhouettePart(measureShapes(blank), []).problem).toMatch(/only 0 of 10 fit photos show a dark object/);
  });
});

describe('a detector with a silhouette part', () => {
  const trainImgs = bolts(20, 'train');
  const valImgs = bolts(10, 'val');
  const withPart = () =>
    fitDetector(rows(20, 'train'), rows(10, 'val'), ['a', 'b'], { method: 'knn', silhouette: { train: measureShapes(trainImgs), val: measureShapes(valImgs) } });

  it('sets each part at sqrt(acceptRate), so that together they aim at acceptRate', () => {
    const det = withPart();
    expect(det.silhouette).toBeDefined();
    expect(det.acceptRate).toBe(0.95);
    expect(det.silhouette!.acceptRate).toBeCloseTo(Math.sqrt(0.95), 12);
    const alone = fitDetector(rows(20, 'train'), rows(10, 'val'), ['a', 'b'], { method: 'knn' });
    expect(alone.silhouette).toBeUndefined();
    // 10 validation scores: the 2.5% quantile sits lower than the 5% one (or equal).
    expect(det.threshold).toBeLessThanOrEqual(alone.threshold);
    const off = fitDetector(rows(20, 'train'), rows(10, 'val'), ['a', 'b'], { method: 'knn', silhouette: { note: 'switched off' } });
    expect([off.silhouette, off.silhouetteNote, off.threshold]).toEqual([undefined, 'switched off', alone.threshold]);
  });

  it('decide(): unknown when either part rejects; the shape is required', () => {
    const det = withPart();
    const v = rows(1, 'probe');
    const f = v.features.subarray(0, 4);
    const z = v.logits.subarray(0, 2);
    const feat = det.scorer.score(f, z);
    // A probe the feature scorer accepts, for sure:
    const d = { ...det, threshold: feat - 1 };
    const bolt = decide(f, z, ['a', 'b'], d, undefined, measureShapes(bolts(1, 'one'))[0]);
    expect(bolt.ood!.method).toBe('knn+silhouette');
    expect(bolt.ood!.silhouette!.score).toBeGreaterThanOrEqual(det.silhouette!.threshold);
    expect(bolt.unknown).toBe(false);
    const nut = decide(f, z, ['a', 'b'], d, undefined, measureShapes(nuts(1, 'one'))[0]);
    expect([nut.unknown, nut.label, nut.ood!.score >= nut.ood!.threshold]).toEqual([true, null, true]);
    const empty = decide(f, z, ['a', 'b'], d, undefined, null);
    expect([empty.unknown, empty.ood!.silhouette!.score]).toEqual([true, null]);
    expect(() => decide(f, z, ['a', 'b'], d)).toThrow(/silhouette part; pass the photo's shape/);
  });

  it('ood.json parts-ood/2 round-trips the part; a parts-ood/1 file reads as a detector without one', async () => {
    const dir = await tmp();
    const det = withPart();
    await writeOodFile(dir, det);
    const json = JSON.parse(await readFile(path.join(dir, OOD_JSON), 'utf8'));
    expect(json.format).toBe('parts-ood/2');
    expect(json.silhouette).toMatchObject({ threshold: det.silhouette!.threshold, k: 1, fittedOn: det.silhouette!.fittedOn });
    const back = (await readOodFile(dir, { featureDim: 4, labels: ['a', 'b'] }))!;
    expect(back.silhouette!.threshold).toBe(det.silhouette!.threshold);
    expect(back.silhouette!.scorer.state.options).toEqual(det.silhouette!.scorer.state.options);
    const probe = measureShapes([...bolts(5, 'p'), ...nuts(5, 'p')]);
    // float32 storage of the bank: the same scores to float32 precision.
    probe.forEach((s) => expect(back.silhouette!.scorer.score(s)).toBeCloseTo(det.silhouette!.scorer.score(s), 4));
    expect(Array.from(back.scorer.scoreRows(rows(5, 'q')))).toEqual(Array.from(det.scorer.scoreRows(rows(5, 'q'))));

    // The same detector as an older version wrote it: no silhouette fields, no silhouette arrays.
    const v1Dir = await tmp();
    const plain = fitDetector(rows(20, 'train'), rows(10, 'val'), ['a', 'b'], { method: 'knn' });
    await writeOodFile(v1Dir, plain);
    const j1 = JSON.parse(await readFile(path.join(v1Dir, OOD_JSON), 'utf8'));
    delete j1.silhouette;
    await writeFile(path.join(v1Dir, OOD_JSON), JSON.stringify({ ...j1, format: 'parts-ood/1' }));
    const old = (await readOodFile(v1Dir, { featureDim: 4, labels: ['a', 'b'] }))!;
    expect(old.silhouette).toBeUndefined();
    expect(old.threshold).toBe(plain.threshold);
    expect(decide(rows(1, 'x').features, rows(1, 'x').logits, ['a', 'b'], old).ood!.method).toBe('knn');

    // A v2 file whose silhouette entry lost a field: the error names it.
    json.silhouette.threshold = 'high';
    await writeFile(path.join(dir, OOD_JSON), JSON.stringify(json));
    await expect(readOodFile(dir)).rejects.toThrow(/ood\.json: field "silhouette\.threshold" is "high", expected a finite number/);
    await writeFile(path.join(dir, OOD_JSON), JSON.stringify({ ...json, format: 'parts-ood/3' }));
    await expect(readOodFile(dir)).rejects.toThrow(/field "format" is "parts-ood\/3", expected one of "parts-ood\/1", "parts-ood\/2"/);
  });
});

// The real photos: big/small bolts (the `parts` dataset) against the nuts of bolts-nuts, which
// the parts model never saw. Only the shape part: no model to train.
const DATA = path.resolve(__dirname, '../../../../shared/datasets');
describe.skipIf(!existsSync(path.join(DATA, 'parts')) || !existsSync(path.join(DATA, 'bolts-nuts')))('silhouette part on the parts photos', () => {
  it('rejects >= 80% of the nut photos and accepts >= 95% of the parts test photos', async () => {
    const idx = await listDataset(path.join(DATA, 'parts'), { valSplit: 0.2, seed: 42 });
    // PartsNet's input: 128x128, cover.
    const decode = (files: string[]) => Promise.all(files.map((f) => decodeImage(f, { size: 128, fit: 'cover' })));
    const shapes = async (files: string[]) => measureShapes(await decode(files));
    const fit = fitSilhouettePart(await shapes(idx.splits.train.map((s) => s.file)), await shapes(idx.splits.val.map((s) => s.file)), { acceptRate: Math.sqrt(0.95) });
    const part = fit.part!;
    expect(fit.problem).toBeNull();
    const accepted = (ss: ReturnType<typeof measureShapes>) => ss.filter((s) => part.scorer.score(s) >= part.threshold).length;
    const test = await shapes(idx.splits.test.map((s) => s.file));
    const nutFiles = ['train', 'test'].flatMap((split) =>
      ['M5_nut', 'M6_nut', 'M8_nut', 'M12_nut'].flatMap((c) => readdirSync(path.join(DATA, 'bolts-nuts', split, c)).map((f) => path.join(DATA, 'bolts-nuts', split, c, f))),
    );
    expect(nutFiles).toHaveLength(112);
    const nutShapes = await shapes(nutFiles);
    const rejected = nutShapes.length - accepted(nutShapes);
    expect(accepted(test)).toBeGreaterThanOrEqual(Math.ceil(0.95 * test.length));
    expect(rejected).toBeGreaterThanOrEqual(Math.ceil(0.8 * nutShapes.length));
  });
});
