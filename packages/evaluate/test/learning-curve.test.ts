// The learning curve: the subset sampler (stratified, nested, a pure function of the seed), the
// power-law fit on synthetic points with known parameters, the chart and report section, and one
// small real run (PartsNet, 1 epoch, 16 px, wasm) on a generated dataset.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateDemoDataset, type Sample } from '@parts/data';
import { train, type TrainOptions } from '@parts/train';
import {
  fitAndProject,
  fitInversePowerLaw,
  nestedSubsets,
  parseCurveSizes,
  projectAccuracy,
  runLearningCurve,
  type LearningCurveResult,
} from '../src/learning-curve';
import { learningCurveHtml, learningCurveMarkdown, photosCurvePng, writeLearningCurveReport } from '../src/learning-curve-report';
import { wilsonInterval } from '../src/metrics';
import { tempDir } from './helpers';

const CLASSES = ['a', 'b', 'c'];
/** 40 photos of a, 30 of b, 12 of c. */
const TRAIN: Sample[] = [
  ...Array.from({ length: 40 }, (_, i) => ({ file: `/d/train/a/a${String(i).padStart(2, '0')}.jpg`, label: 0 })),
  ...Array.from({ length: 30 }, (_, i) => ({ file: `/d/train/b/b${String(i).padStart(2, '0')}.jpg`, label: 1 })),
  ...Array.from({ length: 12 }, (_, i) => ({ file: `/d/train/c/c${String(i).padStart(2, '0')}.jpg`, label: 2 })),
];
const files = (s: { samples: Sample[] }) => s.samples.map((x) => x.file);
const countByLabel = (s: Sample[]) => CLASSES.map((_, l) => s.filter((x) => x.label === l).length);

describe('nestedSubsets', () => {
  it('takes min(n, class size) photos of every class, the whole split last', () => {
    const subs = nestedSubsets(TRAIN, CLASSES, [10, 25], 7, { includeAll: true });
    expect(subs.map((s) => s.requested)).toEqual([10, 25, null]);
    expect(subs.map((s) => s.perClass)).toEqual([
      [10, 10, 10],
      [25, 25, 12],
      [40, 30, 12],
    ]);
    expect(subs.map((s) => countByLabel(s.samples))).toEqual(subs.map((s) => s.perClass));
    expect(new Set(files(subs[2])).size).toBe(TRAIN.length);
  });

  it('is nested: every subset holds the smaller ones', () => {
    const subs = nestedSubsets(TRAIN, CLASSES, [25, 5, 10], 3);
    expect(subs.map((s) => s.requested)).toEqual([5, 10, 25]);
    for (let i = 1; i < subs.length; i++) expect(files(subs[i])).toEqual(expect.arrayContaining(files(subs[i - 1])));
  });

  it('is a pure function of the photos and the seed (not of their order), and the seed matters', () => {
    const a = nestedSubsets(TRAIN, CLASSES, [10], 42);
    const reversed = nestedSubsets([...TRAIN].reverse(), CLASSES, [10], 42);
    expect(files(reversed[0])).toEqual(files(a[0]));
    expect(files(nestedSubsets(TRAIN, CLASSES, [10], 42)[0])).toEqual(files(a[0]));
    expect(new Set(files(nestedSubsets(TRAIN, CLASSES, [10], 43)[0]))).not.toEqual(new Set(files(a[0])));
  });

  it('gives a size at or above every class size once, as the whole split', () => {
    const subs = nestedSubsets(TRAIN, CLASSES, [10, 40, 100], 1, { includeAll: true });
    expect(subs.map((s) => s.requested)).toEqual([10, null]);
  });

  it('refuses sizes that are not whole numbers >= 1 and empty classes', () => {
    expect(() => nestedSubsets(TRAIN, CLASSES, [0], 1)).toThrow(/>= 1, got 0/);
    expect(() => nestedSubsets(TRAIN, [...CLASSES, 'd'], [5], 1)).toThrow(/class d has no training photos/);
    expect(parseCurveSizes('10, 25,50')).toEqual([10, 25, 50]);
    expect(() => parseCurveSizes('10,x')).toThrow(/--curve-sizes: 'x'/);
  });
});

describe('fitInversePowerLaw', () => {
  const law = (a: number, b: number, c: number) => (n: number) => a - b * n ** -c;

  it('recovers known parameters from exact points', () => {
    const f = law(0.97, 0.8, 0.6);
    const ns = [10, 25, 50, 100, 300];
    const fit = fitInversePowerLaw(ns.map((n) => ({ n, accuracy: f(n) })));
    expect(fit.a).toBeCloseTo(0.97, 3);
    expect(fit.b).toBeCloseTo(0.8, 2);
    expect(fit.c).toBeCloseTo(0.6, 2);
    expect(fit.rmse).toBeLessThan(1e-4);
    expect(projectAccuracy(fit, 600)).toBeCloseTo(f(600), 3);
  });

  it('stays close under small noise and projects at twice the largest size', () => {
    const f = law(0.95, 0.5, 0.5);
    const noise = [0.004, -0.003, 0.002, -0.004, 0.003];
    const pts = [10, 25, 50, 100, 200].map((n, i) => ({ n, accuracy: f(n) + noise[i] }));
    const { fit, projection } = fitAndProject(pts);
    expect(fit!.rmse).toBeLessThan(0.005);
    expect(projection!.n).toBe(400);
    expect(Math.abs(projection!.accuracy - f(400))).toBeLessThan(0.015);
  });

  it('keeps the asymptote at or below 100%', () => {
    // Points that a free fit would send to a > 1 (accuracy still climbing steeply at the largest size).
    const fit = fitInversePowerLaw([
      { n: 2, accuracy: 0.5 },
      { n: 4, accuracy: 0.62 },
      { n: 8, accuracy: 0.87 },
    ]);
    expect(fit.a).toBe(1);
    expect(fit.b).toBeGreaterThan(0);
    expect(projectAccuracy(fit, 16)).toBeLessThanOrEqual(1);
    expect(projectAccuracy(fit, 16)).toBeGreaterThan(0.87);
  });

  it('fits falling accuracy as flat (b = 0), and needs 3 sizes', () => {
    const fit = fitInversePowerLaw([
      { n: 10, accuracy: 0.9 },
      { n: 20, accuracy: 0.85 },
      { n: 40, accuracy: 0.8 },
    ]);
    expect(fit.b).toBe(0);
    expect(fit.a).toBeCloseTo(0.85, 6);
    expect(() => fitInversePowerLaw([{ n: 10, accuracy: 0.5 }, { n: 20, accuracy: 0.6 }])).toThrow(/at least 3 different sizes/);
    expect(fitAndProject([{ n: 10, accuracy: 0.5 }])).toEqual({ fit: null, projection: null });
  });
});

function syntheticResult(): LearningCurveResult {
  const pts = [
    [10, 70],
    [25, 80],
    [50, 86],
    [100, 90],
  ].map(([n, correct]) => ({
    requested: n,
    perClass: [n, n],
    n,
    trainPhotos: 2 * n,
    correct,
    total: 100,
    accuracy: correct / 100,
    interval: wilsonInterval(correct, 100),
    trainSeconds: n / 10,
    runDir: `/runs/curve-${n}`,
  }));
  return { data: '/data/set', seed: 42, classes: ['ok', 'def'], testPhotos: 100, points: pts, ...fitAndProject(pts), totalSeconds: 30 };
}

describe('learning-curve section and chart', () => {
  it('renders a table row per size with Wilson intervals, the fit and the projection', () => {
    const r = syntheticResult();
    const md = learningCurveMarkdown(r, 'learning-curve.png');
    expect(md).toContain('| 10 | 20 | 70.0% (70/100) | 60.4%–78.1% | 1 s |');
    expect(md).toContain('| 100 | 200 | 90.0% (90/100) |');
    expect(md).toMatch(/projected test accuracy at 200 photos per class \(twice the largest point\): 9\d\.\d%/);
    expect(md).toContain('![learning curve](learning-curve.png)');
    expect(md).toContain('least squares');
    const html = learningCurveHtml(r, Buffer.from('png'));
    expect(html).toContain('<td>70.0% (70/100)</td>');
    expect(html).toContain('src="data:image/png;base64,');
  });

  it('draws a PNG and writes the report folder', async () => {
    const r = syntheticResult();
    const png = photosCurvePng(r);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(800);
    const dir = await writeLearningCurveReport(r, await tempDir(), new Date(2026, 0, 2, 3, 4, 5));
    expect(path.basename(dir)).toBe('learning-curve-20260102-030405');
    expect((await fs.readdir(dir)).sort()).toEqual(['index.html', 'learning-curve.json', 'learning-curve.png', 'report.md']);
    expect(JSON.parse(await fs.readFile(path.join(dir, 'learning-curve.json'), 'utf8')).points).toHaveLength(4);
  });
});

describe('runLearningCurve on a generated dataset', () => {
  let dir: string;
  let result: LearningCurveResult;
  const seen: { data: string; train: number[]; test: number[] }[] = [];
  const count = async (d: string) => Promise.all(['big', 'small'].map(async (c) => (await fs.readdir(path.join(d, c))).length));

  beforeAll(async () => {
    dir = await tempDir('parts-curve-');
    const data = path.join(dir, 'demo');
    await generateDemoDataset(data, { seed: 3, trainPerClass: 6, testPerClass: 3, width: 64, height: 48 });
    const recordingTrain = async (o: TrainOptions) => {
      seen.push({ data: o.data, train: await count(path.join(o.data, 'train')), test: await count(path.join(o.data, 'test')) });
      return train(o);
    };
    result = await runLearningCurve({
      data,
      sizes: [2, 4],
      seed: 5,
      out: path.join(dir, 'runs'),
      trainOverrides: { epochs: 1, imgSize: 16, batchSize: 4, backend: 'wasm', valSplit: 0 },
      train: recordingTrain,
      log: () => {},
    });
  }, 300_000);

  it('trains each nested subset and scores all on the same test photos', () => {
    expect(seen.map((s) => s.train)).toEqual([
      [2, 2],
      [4, 4],
      [6, 6],
    ]);
    expect(seen.every((s) => s.test.join() === '3,3')).toBe(true);
    expect(result.points.map((p) => [p.requested, p.n, p.total])).toEqual([
      [2, 2, 6],
      [4, 4, 6],
      [null, 6, 6],
    ]);
    for (const p of result.points) {
      expect(p.accuracy).toBe(p.correct / 6);
      expect(p.interval).toEqual(wilsonInterval(p.correct, 6));
    }
    expect(result.fit).not.toBeNull();
    expect(result.projection!.n).toBe(12);
  });

  it('removes its linked subset folders and keeps the runs', async () => {
    for (const s of seen) await expect(fs.access(s.data)).rejects.toThrow();
    expect((await fs.readdir(path.join(dir, 'runs'))).length).toBe(3);
  });
});
