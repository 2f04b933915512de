import { describe, expect, it } from 'vitest';
import {
  balancedAccuracy,
  binaryRocAuc,
  computeMetrics,
  confusionCounts,
  logLoss,
  rocAuc,
  rocCurve,
  rowNormalize,
  wilsonInterval,
} from '../src/metrics';

// Binary example worked by hand (labels big=0, small=1; score = p(small)):
//   true:    0    0    0    1    1    1    1
//   p(1):   0.1  0.4  0.8  0.8  0.3  0.9  0.35
//   pred:    0    0    1    1    0    1    0      → counts [[2,1],[2,2]]
const yTrue = [0, 0, 0, 1, 1, 1, 1];
const p1 = [0.1, 0.4, 0.8, 0.8, 0.3, 0.9, 0.35];
const probs = p1.map((p) => [1 - p, p]);

describe('wilsonInterval', () => {
  it('matches the published Wilson interval for 15/21', () => {
    // statsmodels proportion_confint(15, 21, method="wilson") = (0.50044, 0.86186)
    const { low, high } = wilsonInterval(15, 21);
    expect(low).toBeCloseTo(0.50044, 4);
    expect(high).toBeCloseTo(0.86186, 4);
  });
  it('is [0, z²/(n+z²)] for 0 successes and rejects impossible counts', () => {
    const { low, high } = wilsonInterval(0, 10);
    expect(low).toBe(0);
    expect(high).toBeCloseTo(3.841459 / 13.841459, 5);
    expect(() => wilsonInterval(5, 4)).toThrow(/k <= n/);
  });
});

describe('binary metrics', () => {
  const m = computeMetrics(yTrue, probs, ['big', 'small']);
  it('confusion matrix, accuracy and balanced accuracy', () => {
    expect(m.confusion.counts).toEqual([[2, 1], [2, 2]]);
    expect(m.confusion.normalized[0][0]).toBeCloseTo(2 / 3, 10);
    expect(m.confusion.normalized[1]).toEqual([0.5, 0.5]);
    expect(m.n).toBe(7);
    expect(m.correct).toBe(4);
    expect(m.accuracy).toBeCloseTo(4 / 7, 10);
    expect(m.balancedAccuracy).toBeCloseTo((2 / 3 + 1 / 2) / 2, 10);
  });
  it('per-class precision/recall/F1 and macro averages', () => {
    const [big, small] = m.perClass;
    expect(big).toMatchObject({ label: 'big', support: 3 });
    expect(big.precision).toBeCloseTo(0.5, 10);
    expect(big.recall).toBeCloseTo(2 / 3, 10);
    expect(big.f1).toBeCloseTo(4 / 7, 10); // 2·(1/2)(2/3)/(1/2+2/3)
    expect(small.precision).toBeCloseTo(2 / 3, 10);
    expect(small.recall).toBeCloseTo(0.5, 10);
    expect(m.macro.precision).toBeCloseTo(7 / 12, 10);
    expect(m.macro.f1).toBeCloseTo(4 / 7, 10);
  });
  it('ROC-AUC counts ties as one half (7.5 of 12 pairs)', () => {
    expect(m.rocAuc).toBeCloseTo(7.5 / 12, 10);
    expect(binaryRocAuc([true, false], [0.5, 0.5])).toBe(0.5);
    expect(binaryRocAuc([true, true], [0.1, 0.2])).toBeNull();
  });
  it('ROC curve steps through tied scores together and its area equals the AUC', () => {
    const pts = rocCurve(yTrue.map((t) => t === 1), p1);
    expect(pts.map((p) => [p.fpr, p.tpr])).toEqual([
      [0, 0],
      [0, 0.25],
      [1 / 3, 0.5],
      [2 / 3, 0.5],
      [2 / 3, 0.75],
      [2 / 3, 1],
      [1, 1],
    ]);
    let area = 0;
    for (let i = 1; i < pts.length; i++) area += (pts[i].fpr - pts[i - 1].fpr) * (pts[i].tpr + pts[i - 1].tpr) / 2;
    expect(area).toBeCloseTo(m.rocAuc!, 10);
  });
  it('log loss is the mean -ln p(true) and clips certainty', () => {
    const hand = -[0.9, 0.6, 0.2, 0.8, 0.3, 0.9, 0.35].reduce((s, p) => s + Math.log(p), 0) / 7;
    expect(hand).toBeCloseTo(0.686846, 5);
    expect(m.logLoss).toBeCloseTo(hand, 10);
    expect(logLoss([1], [[1, 0]])).toBeCloseTo(-Math.log(1e-15), 6);
    expect(Number.isFinite(logLoss([0], [[0, 1]]))).toBe(true);
  });
});

describe('multi-class metrics', () => {
  const y = [0, 1, 2, 0];
  const pr = [
    [0.7, 0.2, 0.1],
    [0.3, 0.4, 0.3],
    [0.2, 0.5, 0.3],
    [0.5, 0.1, 0.4],
  ];
  it('one-vs-rest macro AUC = mean(1, 2/3, 1/2)', () => {
    const r = rocAuc(y, pr);
    expect(r.perClass[0]).toBeCloseTo(1, 10);
    expect(r.perClass[1]).toBeCloseTo(2 / 3, 10);
    expect(r.perClass[2]).toBeCloseTo(0.5, 10);
    expect(r.auc).toBeCloseTo((1 + 2 / 3 + 0.5) / 3, 10);
  });
  it('confusion and balanced accuracy', () => {
    const c = confusionCounts(y, [0, 1, 1, 0], 3);
    expect(c).toEqual([[2, 0, 0], [0, 1, 0], [0, 1, 0]]);
    expect(balancedAccuracy(c)).toBeCloseTo(2 / 3, 10);
    expect(rowNormalize([[0, 0], [1, 3]])).toEqual([[0, 0], [0.25, 0.75]]);
    const m = computeMetrics(y, pr, ['a', 'b', 'c']);
    expect(m.roc).toHaveLength(3);
    expect(m.accuracy).toBe(0.75);
  });
  it('rejects rows of the wrong width and out-of-range labels', () => {
    expect(() => computeMetrics([0], [[0.5, 0.5]], ['a', 'b', 'c'])).toThrow(/expected 3/);
    expect(() => confusionCounts([3], [0], 3)).toThrow(/true label 3/);
  });
});
