// The drift alarm's statistics: the exact binomial tail against reference values, the expected
// unknown rate from a detector summary, and the sliding window.
import { describe, expect, it } from 'vitest';
import type { OodSummary } from '@parts/models';
import { binomialUpperTail, DRIFT_MIN_ANSWERS, DriftMonitor, expectedUnknownRate } from '../src/drift';

const detector = (o: Partial<Extract<OodSummary, { active: true }>> = {}): OodSummary => ({
  active: true,
  method: 'knn',
  threshold: -1,
  storedThreshold: -1,
  thresholdOverridden: false,
  acceptRate: 0.95,
  temperature: 1,
  file: 'ood.json',
  ...o,
});

describe('binomialUpperTail', () => {
  // Reference values: scipy.stats.binom.sf(k - 1, n, p), and exact sums over fractions (Python).
  it.each([
    [3, 10, 0.1, 0.0701908264],
    [20, 200, 0.05, 0.0026645795498294435],
    [22, 200, 0.05, 0.0004811091684555015],
    [30, 200, 0.05, 8.709270943980009e-8],
    [200, 200, 0.05, 6.223015277861211e-261],
    [1, 200, 0.05, 0.9999649473337512],
    [60, 100, 0.5, 0.028443966820490444],
    [5, 1000, 0.001, 0.003636878029521792],
  ])('P(X >= %i | n = %i, p = %f) = %e', (k, n, p, want) => {
    const got = binomialUpperTail(k, n, p);
    expect(Math.abs(got - want) / want).toBeLessThan(1e-9);
  });

  it('closed forms and the edges', () => {
    expect(binomialUpperTail(10, 10, 0.5)).toBeCloseTo(1 / 1024, 15);
    expect(binomialUpperTail(0, 10, 0.3)).toBe(1);
    expect(binomialUpperTail(11, 10, 0.3)).toBe(0);
    expect(binomialUpperTail(1, 10, 0)).toBe(0);
    expect(binomialUpperTail(10, 10, 1)).toBe(1);
    expect(binomialUpperTail(0, 0, 0.2)).toBe(1);
    expect(() => binomialUpperTail(1, 10, 1.5)).toThrow(/p must be in \[0, 1\]/);
    expect(() => binomialUpperTail(1.5, 10, 0.5)).toThrow(/k must be an integer/);
  });

  it('is monotone in k and sums with the lower tail to 1', () => {
    let prev = 1;
    for (let k = 0; k <= 50; k++) {
      const t = binomialUpperTail(k, 50, 0.2);
      expect(t).toBeLessThanOrEqual(prev);
      prev = t;
    }
    // P(X >= k) + P(X <= k - 1) = 1, the lower tail by symmetry: P(X <= k-1 | p) = P(Y >= n-k+1 | 1-p).
    for (const k of [1, 7, 10, 13, 30]) expect(binomialUpperTail(k, 50, 0.2) + binomialUpperTail(50 - k + 1, 50, 0.8)).toBeCloseTo(1, 12);
  });
});

describe('expectedUnknownRate', () => {
  it('is 1 - acceptRate, plus the silhouette part\'s reject rate when there is one', () => {
    expect(expectedUnknownRate(detector()).rate).toBeCloseTo(0.05, 12);
    expect(expectedUnknownRate(detector({ method: 'knn+silhouette', silhouette: { threshold: 1, acceptRate: 0.97 } })).rate).toBeCloseTo(0.08, 12);
  });
  it('says why there is nothing to test against', () => {
    expect(expectedUnknownRate(detector({ thresholdOverridden: true }))).toMatchObject({ rate: null, reason: expect.stringContaining('--unknown-threshold') });
    expect(expectedUnknownRate({ active: false, reason: 'no ood.json in the model folder', temperature: 1 })).toMatchObject({ rate: null, reason: expect.stringContaining('no ood.json') });
    expect(expectedUnknownRate(null)).toMatchObject({ rate: null });
  });
});

describe('DriftMonitor', () => {
  it('slides: the window holds only the last n answers', () => {
    const m = new DriftMonitor({ window: 5, pValue: 0.001 });
    for (let i = 0; i < 5; i++) m.add('a', true, -2);
    expect(m.status(detector(), 'a')).toMatchObject({ answers: 5, unknown: 5, unknownRate: 1, meanOodScore: -2 });
    m.add('a', false, 4);
    m.add('a', false, 4);
    expect(m.status(detector(), 'a')).toMatchObject({ answers: 5, unknown: 3, unknownRate: 0.6 });
    expect(m.status(detector(), 'a').meanOodScore).toBeCloseTo((3 * -2 + 2 * 4) / 5, 12);
    for (let i = 0; i < 5; i++) m.add('a', false, null);
    expect(m.status(detector(), 'a')).toMatchObject({ answers: 5, unknown: 0, unknownRate: 0, meanOodScore: null, pValue: 1, alarm: false });
  });

  it('fires when the unknown rate is significantly above validation\'s, not before the minimum count', () => {
    const m = new DriftMonitor({ window: 200, pValue: 0.001 });
    for (let i = 0; i < DRIFT_MIN_ANSWERS - 1; i++) m.add('a', true, -5);
    const early = m.status(detector(), 'a');
    expect(early.pValue).toBeCloseTo(0.05 ** (DRIFT_MIN_ANSWERS - 1), 50);
    expect(early.alarm).toBe(false); // significant, but too few answers yet
    m.add('a', true, -5);
    expect(m.status(detector(), 'a').alarm).toBe(true);
  });

  it('stays quiet at the validation rate and fires at 11% of 200 (22 unknowns: p = 4.8e-4 < 0.001), not at 10% (p = 0.0027)', () => {
    const run = (unknowns: number) => {
      const m = new DriftMonitor({ window: 200, pValue: 0.001 });
      for (let i = 0; i < 200; i++) m.add('a', i < unknowns, 0);
      return m.status(detector(), 'a');
    };
    expect(run(10)).toMatchObject({ answers: 200, unknown: 10, alarm: false });
    expect(run(20)).toMatchObject({ unknown: 20, alarm: false });
    expect(run(20).pValue).toBeCloseTo(0.0026645795498294435, 12);
    expect(run(22)).toMatchObject({ unknown: 22, alarm: true });
  });

  it('restarts on a new model and tests nothing against an overridden threshold', () => {
    const m = new DriftMonitor({ window: 50, pValue: 0.001 });
    for (let i = 0; i < 50; i++) m.add('a', true, null);
    expect(m.status(detector(), 'a').alarm).toBe(true);
    // Another model in service: the window of the old one is not tested against it.
    expect(m.status(detector(), 'b')).toMatchObject({ modelId: 'b', answers: 0, alarm: false });
    m.add('b', false, null);
    expect(m.status(detector(), 'b')).toMatchObject({ answers: 1, unknown: 0 });
    for (let i = 0; i < 50; i++) m.add('b', true, null);
    expect(m.status(detector({ thresholdOverridden: true }), 'b')).toMatchObject({ answers: 50, unknownRate: 1, expectedUnknownRate: null, pValue: null, alarm: false });
  });

  it('rejects a bad window or p-value', () => {
    expect(() => new DriftMonitor({ window: 0, pValue: 0.001 })).toThrow(/window/);
    expect(() => new DriftMonitor({ window: 10, pValue: 1 })).toThrow(/p-value/);
  });
});

describe('the mean score against the validation scores', () => {
  const withScores = detector({ thresholdScores: { mean: 10, sd: 2, n: 40 } });
  // Scores around `mean` whose own mean is exactly `mean` (pairs mean ± spread).
  const feed = (m: DriftMonitor, n: number, mean: number) => {
    for (let i = 0; i < n; i++) m.add('a', false, mean + (i % 2 ? 1 : -1));
  };

  it('stays quiet on scores like validation\'s and fires when the mean falls by a standard deviation', () => {
    const quiet = new DriftMonitor({ window: 200, pValue: 0.001 });
    feed(quiet, 200, 10);
    expect(quiet.status(withScores, 'a')).toMatchObject({ expectedMeanOodScore: 10, scoreAlarm: false, alarm: false });
    expect(quiet.status(withScores, 'a').scorePValue).toBeCloseTo(0.5, 6); // erfc to 1.2e-7
    const low = new DriftMonitor({ window: 200, pValue: 0.001 });
    feed(low, 200, 8);
    const s = low.status(withScores, 'a');
    // z = (8 - 10) / (2 / sqrt(200)) = -14.1: far below any sensible p.
    expect(s.scorePValue!).toBeLessThan(1e-20);
    expect(s).toMatchObject({ scoreAlarm: true, alarm: false });
    expect(s.scoreNote).toBeUndefined();
  });

  it('matches the normal tail: a shift of 2.5 standard errors is p = 0.00621', () => {
    const m = new DriftMonitor({ window: 100, pValue: 0.001 });
    const se = 2 / Math.sqrt(100);
    feed(m, 100, 10 - 2.5 * se);
    const s = m.status(withScores, 'a');
    expect(s.scorePValue!).toBeCloseTo(0.00620967, 6);
    expect(s.scoreAlarm).toBe(false);
  });

  it('waits for the minimum of answers, and says why it does not test without a summary', () => {
    const m = new DriftMonitor({ window: 200, pValue: 0.001 });
    feed(m, DRIFT_MIN_ANSWERS - 2, 5);
    expect(m.status(withScores, 'a').scoreAlarm).toBe(false);
    feed(m, 2, 5);
    expect(m.status(withScores, 'a').scoreAlarm).toBe(true);
    expect(m.status(detector(), 'a')).toMatchObject({ scorePValue: null, scoreAlarm: false, scoreNote: expect.stringMatching(/no summary of the validation scores/) });
  });
});
