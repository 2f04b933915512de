import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { confusionMatrixPng, histogramCounts, learningCurvesPng, leaderboardPng, reliabilityDiagramPng, rocCurvePng, scoreHistogramPng } from '../src/charts';
import { rocCurve, wilsonInterval } from '../src/metrics';
import { chartFontFamily } from '../src/fonts';

async function checkPng(buf: Buffer, width?: number, height?: number) {
  expect(buf.subarray(1, 4).toString('latin1')).toBe('PNG');
  const meta = await sharp(buf).metadata();
  if (width) expect(meta.width).toBe(width);
  if (height) expect(meta.height).toBe(height);
  // Not a blank canvas: the picture has many distinct colours (text, lines, fills).
  const { data, info } = await sharp(buf).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const colours = new Set<number>();
  for (let i = 0; i < data.length; i += info.channels * 7) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
  expect(colours.size).toBeGreaterThan(20);
  return meta;
}

describe('charts', () => {
  it('uses the bundled DejaVu Sans, so labels render even on a machine without system fonts', () => {
    expect(chartFontFamily()).toBe('Parts DejaVu Sans');
  });
  it('learning curves are a 1000x400 PNG with content', async () => {
    const epochs = [1, 2, 3, 4].map((e) => ({ epoch: e, loss: 1 / e, acc: 0.5 + e / 10, valLoss: 1.1 / e, valAcc: 0.45 + e / 10 }));
    await checkPng(learningCurvesPng(epochs, { title: 't', bestEpoch: 3 }), 1000, 400);
    expect(() => learningCurvesPng([])).toThrow(/no epochs/);
  });
  it('ROC curve PNG of the requested size', async () => {
    const pts = rocCurve([false, true, true, false], [0.2, 0.9, 0.6, 0.7]);
    await checkPng(rocCurvePng([{ label: 'small', points: pts, auc: 0.75 }], { width: 400, height: 380 }), 400, 380);
  });
  it('leaderboard chart grows with the number of runs', async () => {
    const bar = (a: number) => ({ label: `run ${a}`, accuracy: a / 21, interval: wilsonInterval(a, 21), published: { accuracy: 0.62, interval: wilsonInterval(13, 21) } });
    const small = await checkPng(leaderboardPng([bar(15)], { width: 700 }), 700);
    const big = await checkPng(leaderboardPng([15, 16, 17, 18, 19, 20].map(bar), { width: 700 }), 700);
    expect(big.height!).toBeGreaterThan(small.height!);
  });
  it('confusion matrix heatmap for 2 and 8 classes; wrong shape is an error', async () => {
    await checkPng(confusionMatrixPng(['big', 'small'], [[5, 1], [2, 6]]));
    const l8 = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'hex_nut_m8'];
    await checkPng(confusionMatrixPng(l8, l8.map((_, i) => l8.map((_, j) => (i === j ? 5 : 1)))));
    expect(() => confusionMatrixPng(['a', 'b'], [[1, 2]])).toThrow(/2x2/);
  });
});

describe('OOD and calibration charts', () => {
  it('histogramCounts bins every finite value once, the top edge in the last bin', () => {
    expect(histogramCounts([0, 0.1, 0.5, 0.99, 1, Number.NaN], 0, 1, 4)).toEqual([2, 0, 1, 2]);
  });

  it('score histogram and reliability diagram are PNGs of the requested size; empty bins are skipped', async () => {
    await checkPng(scoreHistogramPng([0.9, 0.95, 0.97, 0.99], [0.2, 0.4, 0.93], 0.92, { width: 500, height: 300, method: 'knn' }), 500, 300);
    const bins = [
      { lo: 0, hi: 0.5, count: 0, confidence: null, accuracy: null },
      { lo: 0.5, hi: 1, count: 4, confidence: 0.8, accuracy: 0.75 },
    ];
    await checkPng(reliabilityDiagramPng(bins, bins, { width: 400, height: 360, eceBefore: 0.1, eceAfter: 0.05, temperature: 1.5 }), 400, 360);
    expect(() => scoreHistogramPng([], [], Number.NaN)).toThrow(/no finite scores/);
  });
});
