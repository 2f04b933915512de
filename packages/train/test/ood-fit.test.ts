// train() fits the out-of-distribution detector of every run: model/ood.json, readable, whose
// threshold accepts the accept rate of the validation photos; calibration and the fit in metrics.json.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { decodeImage, LINE_LIGHT_VARIANTS, lineLightVariants, listDataset, quarterTurnVariants } from '@parts/data';
import { chooseThreshold, computeFeaturesAndLogits, defaultOodMethod, disposeClassifier, featureAndLogitModel, loadClassifier, OOD_JSON, readOodFile, scoreDistance } from '@parts/models';
import { detectorGroups, imagesPerPhoto, resolveTrainOptions, train, TRAIN_DEFAULTS, variantsText, withVariants, type RunMetrics } from '../src/index';
import { demoWorkspace, QUICK_TRAIN } from './fixtures';

let data: string;
let out: string;
/** The threshold of the first test's run (seed 3, accept rate 0.95). */
let threshold95 = Number.NaN;

beforeAll(async () => {
  ({ data, out } = await demoWorkspace('train-ood-', { seed: 5, trainPerClass: 20, testPerClass: 3, width: 96, height: 72 }));
});

const readMetrics = async (runDir: string) => JSON.parse(await fs.readFile(path.join(runDir, 'metrics.json'), 'utf8')) as RunMetrics;

describe('detectorGroups', () => {
  it("gives each photo its near-duplicate group, or one of its own, and its variants the photo's", () => {
    const groupOf = new Map([
      ['a.jpg', 0],
      ['b.jpg', 0],
      ['c.jpg', 1],
    ]);
    expect(detectorGroups(['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg'], groupOf, {})).toEqual([0, 0, 1, -4]);
    expect(detectorGroups(['x.jpg', 'y.jpg'], undefined, {})).toEqual([-1, -2]);
    const each = 1 + LINE_LIGHT_VARIANTS.length;
    expect(detectorGroups(['c.jpg', 'd.jpg'], groupOf, { lineLight: true })).toEqual([...Array(each).fill(1), ...Array(each).fill(-2)]);
    expect(detectorGroups(['c.jpg', 'd.jpg'], groupOf, { turns: true })).toEqual([1, 1, 1, 1, -2, -2, -2, -2]);
    expect(imagesPerPhoto({ lineLight: true, turns: true })).toBe(1 + LINE_LIGHT_VARIANTS.length + 3);
  });

  it('withVariants: each photo as shot, then its line-light variants, then its quarter turns, labels and files repeated', () => {
    const img = (v: number) => ({ data: Uint8Array.from({ length: 4 * 4 * 3 }, (_, i) => (v * 7 + i * 13) % 256), width: 4, height: 4 });
    const set = { images: [img(1), img(2)], labels: [0, 1], files: ['a.jpg', 'b.jpg'] };
    expect(withVariants(set, {})).toBe(set);
    const both = withVariants(set, { lineLight: true, turns: true });
    const k = imagesPerPhoto({ lineLight: true, turns: true });
    expect(both.images.length).toBe(2 * k);
    expect(both.labels).toEqual([...Array(k).fill(0), ...Array(k).fill(1)]);
    expect(both.files).toEqual([...Array(k).fill('a.jpg'), ...Array(k).fill('b.jpg')]);
    const same = (a: { data: Uint8Array }, b: { data: Uint8Array }) => Buffer.from(a.data).equals(Buffer.from(b.data));
    expect(same(both.images[k], set.images[1])).toBe(true);
    lineLightVariants(set.images[1]).forEach((v, i) => expect(same(both.images[k + 1 + i], v)).toBe(true));
    quarterTurnVariants(set.images[1]).forEach((v, i) => expect(same(both.images[k + 1 + LINE_LIGHT_VARIANTS.length + i], v)).toBe(true));
    expect(variantsText({ lineLight: true, turns: true })).toBe(' + 5 line-light variants and 3 quarter turns of each');
    expect(variantsText({ turns: true })).toBe(' + 3 quarter turns of each');
    expect(variantsText({})).toBe('');
  });
});

describe('train() and the OOD detector', () => {
  it('writes a readable ood.json whose threshold accepts ~95% of the validation photos', async () => {
    const logs: string[] = [];
    const valSplit = 0.5;
    // --ood-line-light: the detector counts each photo under the line's light variants as known too.
    const res = await train({ ...QUICK_TRAIN, data, out, seed: 3, valSplit, oodLineLight: true, quiet: false, log: (l) => logs.push(l) });
    const modelDir = path.join(res.runDir, 'model');
    const c = await loadClassifier(res.runDir);
    const fl = featureAndLogitModel(c.model);
    try {
      const det = await readOodFile(modelDir, { featureDim: fl.featureDim, labels: c.meta.labels });
      expect(det).not.toBeNull();
      expect(det!.method).toBe(defaultOodMethod('tinyvgg'));
      expect(det!.acceptRate).toBe(0.95);
      // The validation photos, listed and decoded as training did, scored by the stored detector.
      // Listed as training lists (near-duplicate groups at the default threshold); with
      // --ood-line-light the detector counts each photo and its line-light variants as known (a part
      // under another lamp is still that part), so it saw 1 + 5 images per photo.
      const index = await listDataset(data, { valSplit, seed: 3, groupThreshold: TRAIN_DEFAULTS.groupThreshold });
      const val = index.splits.val;
      const each = 1 + LINE_LIGHT_VARIANTS.length;
      expect(det!.fittedOn).toMatchObject({
        n: index.splits.train.length * each,
        thresholdN: val.length * each,
        split: 'train + 5 line-light variants of each',
        thresholdSplit: 'val + 5 line-light variants of each',
      });
      const shot = await Promise.all(val.map((s) => decodeImage(s.file, { size: c.meta.imgSize, fit: c.meta.fit })));
      const images = shot.flatMap((im) => [im, ...lineLightVariants(im)]);
      const rows = await computeFeaturesAndLogits(fl, images, c.meta);
      const scores = det!.scorer.scoreRows(rows);
      // The threshold is chosen on these val × 6 scores by the one rule, at the feature part's share
      // (sqrt(0.95) when a silhouette part takes its own share). Half of the 40 demo train photos,
      // moved group by group: 19 on the demo data.
      expect(val.length).toBe(19);
      const share = det!.silhouette ? Math.sqrt(0.95) : 0.95;
      // Its confidence bound counts near-duplicate groups of photos, not the 6 images of each.
      const units = new Set(detectorGroups(val.map((s) => s.file), index.groupOf, { lineLight: true })).size;
      // 19 photos in fewer groups: the grouping is exercised.
      expect(units).toBeLessThan(val.length);
      const choice = chooseThreshold(scores, share, { distance: scoreDistance(det!.method), units });
      expect(det!.threshold).toBeCloseTo(choice.threshold, 10);
      expect(det!.fittedOn.thresholdRule).toBe(choice.rule);
      // At least the asked share of these validation images is accepted (the quantile at 95% leaves
      // out at most 6 of 114).
      expect(scores.filter((s) => s >= det!.threshold).length).toBeGreaterThanOrEqual(Math.floor(0.95 * scores.length));

      const m = await readMetrics(res.runDir);
      expect(m.ood).toMatchObject({ method: det!.method, acceptRate: 0.95, n: index.splits.train.length * each, thresholdN: val.length * each, featureDim: fl.featureDim });
      expect(m.ood!.threshold).toBeCloseTo(det!.threshold, 10);
      expect(m.ood!.thresholdGroups).toBe(units);
      expect(det!.fittedOn.thresholdGroups).toBe(units);
      threshold95 = det!.threshold;
      expect(m.ood!.fitSeconds).toBeGreaterThan(0);
      expect(m.calibration!.temperature).toBeCloseTo(det!.temperature, 10);
      expect(m.calibration!.nllAfter).toBeLessThanOrEqual(m.calibration!.nllBefore + 1e-9);
      expect(m.calibration!.n).toBe(val.length * each);
      // The feature threshold's share: with a silhouette part, that part's √95% = 97.5%.
      const shareText = det!.silhouette ? '97\\.5' : '95';
      const rule = det!.fittedOn.thresholdRule!;
      const ruleText = {
        'confidence bound': `at least ${shareText}% of new known photos with 95% confidence \\(an order statistic of`,
        'tolerance bound': `at least ${shareText}% of new known photos with 95% confidence if their distances are normal \\(a normal tolerance bound on`,
        'normal bound': `${shareText}% by a normal prediction bound on`,
        quantile: `${shareText}% of`,
      }[rule];
      // The bounds name the groups they count (fewer than the photos here) and close their bracket.
      const counted = ['confidence bound', 'tolerance bound'].includes(rule)
        ? `, counted as ${units} independent photos or near-duplicate groups\\)`
        : rule === 'normal bound' ? ' \\(too few for a quantile\\)' : '';
      expect(logs.find((l) => l.startsWith('ood: '))).toMatch(
        new RegExp(`threshold .* accepts ${ruleText} 114 val \\+ 5 line-light variants of each photos${counted}; temperature [\\d.]+.*fitted in [\\d.]+s`),
      );
      expect(logs.find((l) => l.startsWith('splits: '))).toMatch(/near-duplicate groups \(similarity >= 0.6\) kept on one side/);
    } finally {
      fl.dispose();
      disposeClassifier(c);
    }
  });

  it('--ood-turns: the detector counts each photo turned by 90°, 180° and 270° as known too, and says so', async () => {
    const logs: string[] = [];
    const valSplit = 0.5;
    const res = await train({ ...QUICK_TRAIN, data, out, seed: 3, valSplit, oodTurns: true, quiet: false, log: (l) => logs.push(l) });
    const c = await loadClassifier(res.runDir);
    const fl = featureAndLogitModel(c.model);
    try {
      const det = (await readOodFile(path.join(res.runDir, 'model'), { featureDim: fl.featureDim, labels: c.meta.labels }))!;
      const index = await listDataset(data, { valSplit, seed: 3, groupThreshold: TRAIN_DEFAULTS.groupThreshold });
      const val = index.splits.val;
      expect(det.fittedOn).toMatchObject({ n: index.splits.train.length * 4, thresholdN: val.length * 4, split: 'train + 3 quarter turns of each', thresholdSplit: 'val + 3 quarter turns of each' });
      // The threshold is the one rule's on the validation photos and their turns, counted in groups.
      const shot = await Promise.all(val.map((s) => decodeImage(s.file, { size: c.meta.imgSize, fit: c.meta.fit })));
      const scores = det.scorer.scoreRows(await computeFeaturesAndLogits(fl, shot.flatMap((im) => [im, ...quarterTurnVariants(im)]), c.meta));
      const units = new Set(detectorGroups(val.map((s) => s.file), index.groupOf, { turns: true })).size;
      const choice = chooseThreshold(scores, det.silhouette ? Math.sqrt(0.95) : 0.95, { distance: scoreDistance(det.method), units });
      expect(det.threshold).toBeCloseTo(choice.threshold, 10);
      expect(logs.find((l) => l.startsWith('ood: '))).toMatch(/on \d+ train \+ 3 quarter turns of each photos, threshold .* val \+ 3 quarter turns of each photos/);
      // The run records the option, so a retrain and the OOD study fit the same way.
      const config = JSON.parse(await fs.readFile(path.join(res.runDir, 'config.json'), 'utf8')) as { options: { oodTurns?: boolean } };
      expect(config.options.oodTurns).toBe(true);
    } finally {
      fl.dispose();
      disposeClassifier(c);
    }
  });

  it('honours --accept-rate, and the fit leaves no tensor behind', async () => {
    // The backend is up since the first test's run.
    const before = tf.memory().numTensors;
    const res = await train({ ...QUICK_TRAIN, data, out, seed: 3, valSplit: 0.5, acceptRate: 0.5, oodLineLight: true });
    expect(tf.memory().numTensors).toBe(before);
    const m = await readMetrics(res.runDir);
    expect(m.ood!.acceptRate).toBe(0.5);
    // Same seed, same model and validation scores: accepting half of them needs a higher threshold.
    const det = await readOodFile(path.join(res.runDir, 'model'));
    expect(det!.threshold).toBeCloseTo(m.ood!.threshold, 10);
    expect(det!.threshold).toBeGreaterThan(threshold95);
  });

  it('writes no ood.json without a validation split, and says so', async () => {
    const logs: string[] = [];
    const res = await train({ ...QUICK_TRAIN, data, out, valSplit: 0, quiet: false, log: (l) => logs.push(l) });
    await expect(fs.access(path.join(res.runDir, 'model', OOD_JSON))).rejects.toThrow();
    const m = await readMetrics(res.runDir);
    expect(m.ood).toBeNull();
    expect(m.calibration).toBeNull();
    expect(m.oodNote).toMatch(/no validation photos/);
    expect(logs).toContain(m.oodNote);
  });

  it('rejects an accept rate outside (0, 1] naming the flag', () => {
    for (const acceptRate of [0, 1.5, -0.1, Number.NaN]) {
      expect(() => resolveTrainOptions({ data, acceptRate }, out)).toThrow(/--accept-rate must be a number in \(0, 1\].*got/);
    }
    expect(resolveTrainOptions({ data }, out).acceptRate).toBe(0.95);
  });
});
