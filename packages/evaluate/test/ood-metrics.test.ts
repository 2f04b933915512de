// OOD metrics on hand-checkable cases.
import { describe, expect, it } from 'vitest';
import { aurocKnownVsUnknown, fprAtKnownRate, riskCoverage, selectiveAccuracyOf } from '../src/ood-metrics';

describe('aurocKnownVsUnknown', () => {
  it('is 1 for perfect separation, 0 for reversed, 1/2 for ties', () => {
    expect(aurocKnownVsUnknown([3, 4], [1, 2])).toBe(1);
    expect(aurocKnownVsUnknown([1, 2], [3, 4])).toBe(0);
    expect(aurocKnownVsUnknown([1], [1])).toBe(0.5);
    expect(aurocKnownVsUnknown([5, 5], [5, 5, 5])).toBe(0.5);
  });
  it('counts pairs: known [1,3] vs unknown [2,2] wins 2 of 4 pairs; known [2,3] vs [2,1] wins 3.5 of 4', () => {
    expect(aurocKnownVsUnknown([1, 3], [2, 2])).toBe(0.5);
    expect(aurocKnownVsUnknown([2, 3], [2, 1])).toBe(3.5 / 4);
  });
  it('refuses empty sets', () => {
    expect(() => aurocKnownVsUnknown([], [1])).toThrow(/0 known/);
  });
});

describe('fprAtKnownRate', () => {
  it('accepts at least 95% of known photos and counts the unknowns accepted there', () => {
    const known = Array.from({ length: 20 }, (_, i) => i + 1); // 1..20: 19 of 20 accepted at >= 2
    const r = fprAtKnownRate(known, [0.5, 1.5, 19.5, 20.5]);
    expect(r.threshold).toBe(2);
    expect(r.fpr).toBe(0.5);
    expect(known.filter((s) => s >= r.threshold).length / known.length).toBe(0.95);
  });
});

describe('selective accuracy and risk–coverage', () => {
  const scores = [0.9, 0.8, 0.8, 0.3];
  const correct = [true, false, true, false];
  it('counts coverage and accuracy of accepted photos', () => {
    expect(selectiveAccuracyOf(scores.map((s) => s >= 0.5), correct)).toEqual({ coverage: 0.75, accuracy: 2 / 3, accepted: 3, n: 4 });
    expect(selectiveAccuracyOf(scores.map((s) => s >= 1), correct).accuracy).toBeNaN();
  });
  it('counts coverage and accuracy of the photos a detector accepted (any rule)', () => {
    expect(selectiveAccuracyOf([true, false, true, false], correct)).toEqual({ coverage: 0.5, accuracy: 1, accepted: 2, n: 4 });
    expect(selectiveAccuracyOf([false, false, false, false], correct).accuracy).toBeNaN();
    expect(() => selectiveAccuracyOf([true], correct)).toThrow(/1 acceptance flags for 4 correctness flags/);
  });
  it('has one point per distinct score and AURC as the coverage-weighted mean risk', () => {
    const { points, aurc } = riskCoverage(scores, correct);
    expect(points).toEqual([
      { coverage: 0.25, risk: 0, threshold: 0.9 },
      { coverage: 0.75, risk: 1 / 3, threshold: 0.8 },
      { coverage: 1, risk: 0.5, threshold: 0.3 },
    ]);
    expect(aurc).toBeCloseTo(0.25 * 0 + 0.5 * (1 / 3) + 0.25 * 0.5, 12);
  });
});
