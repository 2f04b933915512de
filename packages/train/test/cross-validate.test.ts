import { promises as fs } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { listDataset, type DatasetIndex, type Sample } from '@parts/data';
import { demoWorkspace, QUICK_TRAIN } from './fixtures';
import { applyFold, crossValidate, formatCvResult, stratifiedFolds, summarize, TRAIN_DEFAULTS, wilson95, type TrainOptions } from '../src/index';
import type { CvResult } from '../src/cross-validate';

let data: string;
let out: string;
let index: DatasetIndex;
const quick: Omit<TrainOptions, 'data'> = { ...QUICK_TRAIN, epochs: 2 };

beforeAll(async () => {
  ({ data, out } = await demoWorkspace('train-cv-', { seed: 5, trainPerClass: 7, testPerClass: 2, width: 160, height: 120 }));
  index = await listDataset(data);
});

const readJson = async (file: string) => JSON.parse(await fs.readFile(file, 'utf8'));
const files = (samples: Sample[]) => samples.map((s) => s.file).sort();

describe('stratifiedFolds', () => {
  it('partitions the train split into disjoint, stratified folds that cover it exactly once', () => {
    const train = index.splits.train;
    expect(train.length).toBe(14);
    const folds = stratifiedFolds(train, index.classes, 3, 42);
    expect(folds).toHaveLength(3);
    expect(files(folds.flat())).toEqual(files(train));
    expect(new Set(folds.flat().map((s) => s.file)).size).toBe(train.length);
    const sizes = folds.map((f) => f.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    for (const label of [0, 1]) {
      const perFold = folds.map((f) => f.filter((s) => s.label === label).length);
      expect(perFold.reduce((a, b) => a + b, 0)).toBe(7);
      expect(Math.max(...perFold) - Math.min(...perFold)).toBeLessThanOrEqual(1);
    }
    const testFiles = new Set(index.splits.test.map((s) => s.file));
    expect(folds.flat().some((s) => testFiles.has(s.file))).toBe(false);
  });

  it('is reproducible from the seed and changes with it', () => {
    const a = stratifiedFolds(index.splits.train, index.classes, 3, 42);
    expect(stratifiedFolds(index.splits.train, index.classes, 3, 42)).toEqual(a);
    expect(stratifiedFolds(index.splits.train, index.classes, 3, 43)).not.toEqual(a);
  });

  it('refuses too many folds for a class, and K < 2', () => {
    expect(() => stratifiedFolds(index.splits.train, index.classes, 8, 1)).toThrow(/at least 8 training images per class; class 'big' has 7/);
    expect(() => stratifiedFolds(index.splits.train, index.classes, 1, 1)).toThrow(/folds must be an integer >= 2/);
  });

  it('applyFold trains on the other folds, validates on fold k and drops the test split', () => {
    const folds = stratifiedFolds(index.splits.train, index.classes, 3, 9);
    const f2 = applyFold(index, { k: 2, folds: 3 }, 9);
    expect(files(f2.splits.val)).toEqual(files(folds[1]));
    expect(files(f2.splits.train)).toEqual(files([...folds[0], ...folds[2]]));
    expect(f2.splits.test).toEqual([]);
    expect(f2.splitSource.test).toBe('none');
    expect(() => applyFold(index, { k: 4, folds: 3 }, 9)).toThrow(/fold.k must be an integer in 1..3/);
  });
});

describe('wilson95 and summarize', () => {
  it('matches known Wilson intervals', () => {
    // 7/56 and 41/56 as quoted in docs/accuracy.md (6.2–23.6%, 60.4–83.0%).
    const a = wilson95(7, 56);
    expect(a.low).toBeCloseTo(0.062, 3);
    expect(a.high).toBeCloseTo(0.236, 3);
    const b = wilson95(41, 56);
    expect(b.low).toBeCloseTo(0.604, 3);
    expect(b.high).toBeCloseTo(0.83, 3);
    expect(wilson95(10, 10).high).toBeCloseTo(1, 12);
    expect(wilson95(0, 0)).toEqual({ low: 0, high: 1 });
    expect(() => wilson95(3, 2)).toThrow(/0 <= k <= n/);
  });

  it('pools counts over folds and takes the sample sd of fold accuracies', () => {
    const s = summarize([
      { valN: 4, valCorrect: 4, valAccuracy: 1 },
      { valN: 5, valCorrect: 3, valAccuracy: 0.6 },
    ]);
    expect(s.pooled).toMatchObject({ n: 9, correct: 7 });
    expect(s.pooled.accuracy).toBeCloseTo(7 / 9, 12);
    expect(s.pooled.wilson95).toEqual(wilson95(7, 9));
    expect(s.meanAccuracy).toBeCloseTo(0.8, 12);
    expect(s.std).toBeCloseTo(Math.sqrt(0.08), 12);
  });
});

describe('crossValidate()', () => {
  it('writes a cv folder with one run per fold, validated on its fold, never on test', async () => {
    const K = 3;
    const r = await crossValidate({ ...quick, data, out, seed: 11, folds: K });
    expect(path.basename(r.cvDir)).toMatch(/^\d{8}-\d{6}-tinyvgg-scratch-cv3$/);
    expect((await fs.readdir(out)).filter((n) => n.startsWith('.tmp-'))).toEqual([]);

    const cv = await readJson(path.join(r.cvDir, 'cv.json'));
    expect(cv.folds.map((f: { k: number }) => f.k)).toEqual([1, 2, 3]);
    expect(cv.options).toMatchObject({ folds: K, seed: 11, arch: 'tinyvgg', valSplit: 0 });
    expect(cv.options.fold).toBeUndefined();
    for (const key of ['runDir', 'valN', 'valCorrect', 'valAccuracy', 'valLoss']) expect(cv.folds[0]).toHaveProperty(key);
    // Pooled counts are the sum over folds; every train sample is validated exactly once.
    expect(cv.pooled.n).toBe(cv.folds.reduce((s: number, f: { valN: number }) => s + f.valN, 0));
    expect(cv.pooled.n).toBe(index.splits.train.length);
    expect(cv.pooled.correct).toBe(cv.folds.reduce((s: number, f: { valCorrect: number }) => s + f.valCorrect, 0));
    expect(cv.pooled.wilson95).toEqual(wilson95(cv.pooled.correct, cv.pooled.n));
    expect(cv.meanAccuracy).toBeCloseTo(r.meanAccuracy, 12);

    // Training lists the data with its default --group-threshold: folds deal near-duplicate groups.
    const grouped = await listDataset(data, { groupThreshold: TRAIN_DEFAULTS.groupThreshold });
    const expected = stratifiedFolds(grouped.splits.train, grouped.classes, K, 11, grouped.groupOf);
    for (const [i, f] of r.folds.entries()) {
      expect(path.dirname(f.runDir)).toBe(r.cvDir);
      expect(path.join(r.cvDir, cv.folds[i].runDir)).toBe(f.runDir);
      const config = await readJson(path.join(f.runDir, 'config.json'));
      const metrics = await readJson(path.join(f.runDir, 'metrics.json'));
      expect(metrics.test).toBeNull();
      expect(metrics.val.n).toBe(expected[i].length);
      expect(config.options.fold).toEqual({ k: i + 1, folds: K });
      expect(config.data.counts.test).toEqual([0, 0]);
      const valPerClass = [0, 1].map((c) => expected[i].filter((s) => s.label === c).length);
      expect(config.data.counts.val).toEqual(valPerClass);
      expect(config.data.counts.train).toEqual([0, 1].map((c, j) => 7 - valPerClass[j]));
    }
    const text = formatCvResult(r);
    expect(text.split('\n')).toHaveLength(K + 1);
    expect(text).toMatch(new RegExp(`CV accuracy \\(pooled, 3 folds\\): ${cv.pooled.correct}/14 `));
  });

  it('with averaged weights, also prints what the best epochs would have scored, pooled over the folds', () => {
    const fold = (k: number, valCorrect: number, bestEpochCorrect?: number) => ({
      k, runDir: `fold${k}`, valN: 10, valCorrect, valAccuracy: valCorrect / 10, valLoss: 0.3, bestEpoch: 4, epochsRun: 5, trainTimeMs: 1,
      ...(bestEpochCorrect === undefined ? {} : { bestEpochCorrect }),
    });
    const result = (folds: ReturnType<typeof fold>[]) => ({ cvDir: 'cv', folds, ...summarize(folds), options: {} as CvResult['options'] });
    const text = formatCvResult(result([fold(1, 9, 7), fold(2, 8, 9)]));
    expect(text).toContain("(averaged weights; the best epoch's weights would have scored 16/20 = 80.0%)");
    expect(text).toMatch(/CV accuracy \(pooled, 2 folds\): 17\/20 = 85\.0%/);
    // Without averaging (or with a fold lacking the figure) there is no such line.
    expect(formatCvResult(result([fold(1, 9, 7), fold(2, 8)]))).not.toContain('averaged weights');
  });

  it('refuses K < 2 and leaves no folder behind when a fold fails', async () => {
    await expect(crossValidate({ ...quick, data, out, folds: 1 })).rejects.toThrow(/--folds must be an integer >= 2/);
    const failOut = path.join(out, 'failing');
    await expect(crossValidate({ ...quick, data, out: failOut, folds: 8 })).rejects.toThrow(/class 'big' has 7/);
    expect(await fs.readdir(failOut)).toEqual([]);
  });
});
