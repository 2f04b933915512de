// OOD scorers, threshold and temperature scaling on synthetic data where the answer is known.
import { describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import jstat from 'jstat';
import {
  calibration,
  fitDetector,
  fitScorer,
  fitTemperature,
  logSumExp,
  chooseThreshold,
  confidenceOrder,
  MIN_CONFIDENCE_ORDER,
  quantile,
  scoreDistance,
  scoresForEmpiricalThreshold,
  toleranceFactor,
  softmax,
  DEFAULT_OOD_METHOD,
  defaultOodMethod,
  OOD_METHODS,
  knnDefaultMaxBank,
  type FitData,
  type FeatureRows,
} from '../src/ood/index';
import { listArchs } from '../src/registry';

function gauss(rng: () => number): number {
  const u = Math.max(rng(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

/** n points per class around class centres in d dims; logits = 4 · one-hot-ish similarity to centres. */
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** Sample standard deviation (n − 1). */
const sdOf = (xs: readonly number[]) => {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
};

function clusters(n: number, d: number, centres: number[][], rng: () => number, sd = 1): FitData {
  const c = centres.length;
  const features = new Float32Array(n * c * d);
  const logits = new Float32Array(n * c * c);
  const labels: number[] = [];
  let i = 0;
  for (let k = 0; k < c; k++) {
    for (let r = 0; r < n; r++, i++) {
      for (let j = 0; j < d; j++) features[i * d + j] = centres[k][j] + sd * gauss(rng);
      for (let q = 0; q < c; q++) logits[i * c + q] = q === k ? 6 + gauss(rng) : gauss(rng);
      labels.push(k);
    }
  }
  return { features, logits, labels, n: n * c, featureDim: d, numClasses: c };
}

function rows(points: number[][], logits: number[][]): FeatureRows {
  return {
    features: Float32Array.from(points.flat()),
    logits: Float32Array.from(logits.flat()),
    n: points.length,
    featureDim: points[0].length,
    numClasses: logits[0].length,
  };
}

const D = 8;
const CENTRES = [0, 1, 2].map((k) => Array.from({ length: D }, (_, j) => (j === k ? 10 : 0) + 3));

describe('OOD scorers', () => {
  const rng = seedrandom('scorers');
  const train = clusters(60, D, CENTRES, rng);
  const heldIn = clusters(40, D, CENTRES, rng);
  // Far points: other directions, and flat logits (the classifier has no favourite).
  const farPts = Array.from({ length: 30 }, (_, i) => Array.from({ length: D }, (_, j) => (j === 3 + (i % 5) ? 12 : 3) + gauss(rng)));
  const far = rows(farPts, farPts.map(() => [gauss(rng) * 0.3, gauss(rng) * 0.3, gauss(rng) * 0.3]));

  for (const method of ['msp', 'energy', 'mahalanobis', 'knn'] as const) {
    it(`${method}: held-out in-distribution points score above every far point`, () => {
      const s = fitScorer(method, train);
      const inScores = s.scoreRows(heldIn);
      const farScores = s.scoreRows(far);
      const thr = quantile(inScores, 0.05);
      expect(Math.max(...farScores)).toBeLessThan(thr);
    });
  }

  it('energy is T·logsumexp(logits/T) and msp the largest softmax probability', () => {
    const z = Float32Array.from([1, 3, -2]);
    const f = new Float32Array(D);
    const e2 = fitScorer('energy', train, { energyTemperature: 2 });
    expect(e2.score(f, z)).toBeCloseTo(2 * Math.log(Math.exp(0.5) + Math.exp(1.5) + Math.exp(-1)), 10);
    const m = fitScorer('msp', train);
    expect(m.score(f, z)).toBeCloseTo(Math.exp(3) / (Math.exp(1) + Math.exp(3) + Math.exp(-2)), 10);
    expect(logSumExp([1000, 1000])).toBeCloseTo(1000 + Math.log(2), 10);
  });

  it('mahalanobis without shrinkage equals the analytic distance to the nearest class mean (2-D)', () => {
    // Two classes, 3 points each; pooled within-class covariance divided by n = 6.
    const pts = [
      [0, 0], [2, 1], [1, 2],
      [10, 10], [12, 9], [11, 14],
    ];
    const labels = [0, 0, 0, 1, 1, 1];
    const data: FitData = { ...rows(pts, pts.map(() => [0, 0])), labels };
    const s = fitScorer('mahalanobis', data, { shrinkage: 0 });
    const means = [[1, 1], [11, 11]];
    let sxx = 0, sxy = 0, syy = 0;
    pts.forEach((p, i) => {
      const dx = p[0] - means[labels[i]][0];
      const dy = p[1] - means[labels[i]][1];
      sxx += dx * dx; sxy += dx * dy; syy += dy * dy;
    });
    [sxx, sxy, syy] = [sxx / 6, sxy / 6, syy / 6];
    const det = sxx * syy - sxy * sxy;
    const d2 = (x: number[], m: number[]) => {
      const dx = x[0] - m[0], dy = x[1] - m[1];
      return (syy * dx * dx - 2 * sxy * dx * dy + sxx * dy * dy) / det;
    };
    for (const x of [[3, -1], [9, 12], [5, 5]]) {
      const expected = -Math.min(d2(x, means[0]), d2(x, means[1]));
      expect(s.score(Float32Array.from(x), new Float32Array(2))).toBeCloseTo(expected, 3);
    }
  });

  it('mahalanobis with Ledoit-Wolf shrinkage works with fewer samples than dimensions', () => {
    const r = seedrandom('lw');
    const small = clusters(5, 40, [Array(40).fill(0), Array(40).fill(5)], r);
    expect(() => fitScorer('mahalanobis', small, { shrinkage: 0 })).toThrow(/positive definite/);
    const s = fitScorer('mahalanobis', small);
    const alpha = Number(s.state.params.shrinkage);
    expect(alpha).toBeGreaterThan(0);
    expect(alpha).toBeLessThanOrEqual(1);
    // A point at a class mean scores higher than one 10 sd away.
    const atMean = s.score(new Float32Array(40), new Float32Array(2));
    const away = s.score(new Float32Array(40).fill(-10), new Float32Array(2));
    expect(atMean).toBeGreaterThan(away);
  });

  it('knn scores the cosine similarity of the k-th nearest training vector', () => {
    const pts = [[1, 0], [0, 1], [1, 1], [-1, 0]];
    const data: FitData = { ...rows(pts, pts.map(() => [0, 0])), labels: [0, 1, 0, 1] };
    const x = Float32Array.from([2, 0]);
    expect(fitScorer('knn', data, { k: 1 }).score(x, new Float32Array(2))).toBeCloseTo(1, 6);
    expect(fitScorer('knn', data, { k: 2 }).score(x, new Float32Array(2))).toBeCloseTo(Math.SQRT1_2, 6);
    expect(fitScorer('knn', data, { k: 3 }).score(x, new Float32Array(2))).toBeCloseTo(0, 6);
    expect(() => fitScorer('knn', data, { k: 5 })).toThrow(/k must be/);
  });

  it('knn caps the bank at maxBank with every class kept, the same subsample per seed', () => {
    const r = seedrandom('bank');
    const big = clusters(300, 4, [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], r);
    const a = fitScorer('knn', big, { maxBank: 100, seed: 3 });
    const b = fitScorer('knn', big, { maxBank: 100, seed: 3 });
    const c = fitScorer('knn', big, { maxBank: 100, seed: 4 });
    const bank = a.state.arrays.bank;
    expect(bank.shape[0]).toBeLessThanOrEqual(100);
    expect(bank.shape[0]).toBeGreaterThanOrEqual(99);
    expect(bank.data.length * 4).toBeLessThanOrEqual(100 * 4 * 4);
    expect(Array.from(b.state.arrays.bank.data)).toEqual(Array.from(bank.data));
    expect(Array.from(c.state.arrays.bank.data)).not.toEqual(Array.from(bank.data));
    // Each class is present (its centre has a near-1 cosine neighbour).
    for (const centre of [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]) {
      expect(a.score(Float32Array.from(centre), new Float32Array(3))).toBeGreaterThan(0.9);
    }
  });

  it('knn keeps 16 MiB of bank by default, at least 2048 vectors: all of 3000 small features, 2048 of large ones', () => {
    expect(knnDefaultMaxBank(256)).toBe(16_384);
    expect(knnDefaultMaxBank(2048)).toBe(2048);
    expect(knnDefaultMaxBank(4096)).toBe(2048);
    const r = seedrandom('default-bank');
    const centres = [0, 1].map((k) => Array.from({ length: 16 }, (_, j) => (j % 2 === k ? 1 : 0)));
    const many = clusters(1500, 16, centres, r);
    expect(fitScorer('knn', many).state.arrays.bank.shape[0]).toBe(3000);
  });

  it('rejects rows of another dimension', () => {
    const s = fitScorer('knn', train);
    expect(() => s.score(new Float32Array(D + 1), new Float32Array(3))).toThrow(/fitted on 8/);
  });
});

describe('threshold', () => {
  it('quantile interpolates linearly between order statistics (type 7)', () => {
    expect(quantile([4, 1, 3, 2], 0.25)).toBeCloseTo(1.75, 12);
    expect(quantile([4, 1, 3, 2], 0)).toBe(1);
    expect(quantile([4, 1, 3, 2], 1)).toBe(4);
    expect(quantile([5], 0.3)).toBe(5);
  });

  it('accepts at least the target share of new known draws, and not much more', () => {
    const r = seedrandom('thr');
    const fitScores = Array.from({ length: 2000 }, () => gauss(r));
    const c = chooseThreshold(fitScores, 0.95);
    expect(c.rule).toBe('confidence bound');
    // New draws from N(0, 1) are accepted with probability 1 − Φ(threshold). The bound sits about
    // 1.6 sd of the quantile's sampling error (sqrt(.95·.05/2000) ≈ 0.005) below it: about 95.8%,
    // at least 95% for 95% of fit sets (the next tests check that share).
    const accepted = 1 - jstat.jStat.normal.cdf(c.threshold, 0, 1);
    expect(accepted).toBeGreaterThan(0.94);
    expect(accepted).toBeLessThan(0.975);
    expect(() => chooseThreshold(fitScores, 0)).toThrow(/acceptRate/);
  });

  it('confidenceOrder: the largest order statistic that keeps the rate with the confidence', () => {
    // Wilks: the lowest of 59 scores accepts >= 95% with 95% confidence (1 − 0.95^59 = 0.9515), of 58 not.
    expect(confidenceOrder(59, 0.95, 0.95)).toBe(1);
    expect(confidenceOrder(58, 0.95, 0.95)).toBe(0);
    for (const [n, rate] of [[246, 0.95], [1327, 0.95], [1327, 0.975], [168, 0.975]] as const) {
      const k = confidenceOrder(n, rate, 0.95);
      const atLeast = (j: number) => 1 - jstat.jStat.binomial.cdf(j - 1, n, 1 - rate);
      expect(atLeast(k)).toBeGreaterThanOrEqual(0.95);
      expect(atLeast(k + 1)).toBeLessThan(0.95);
      expect(k).toBeLessThan((1 - rate) * n);
    }
    expect(() => confidenceOrder(100, 1)).toThrow(/acceptRate/);
  });

  it('over many validation sets, the confidence bound keeps the rate where the quantile does so half the time', () => {
    // Acceptance of new draws from N(0, 1) at a threshold t is exactly 1 − Φ(t).
    const r = seedrandom('conf');
    const trials = 400;
    let keptByChoice = 0;
    let keptByQuantile = 0;
    for (let t = 0; t < trials; t++) {
      const fit = Array.from({ length: 300 }, () => gauss(r));
      const acceptance = (thr: number) => 1 - jstat.jStat.normal.cdf(thr, 0, 1);
      if (acceptance(chooseThreshold(fit, 0.95).threshold) >= 0.95) keptByChoice++;
      if (acceptance(quantile(fit, 0.05)) >= 0.95) keptByQuantile++;
    }
    expect(keptByChoice / trials).toBeGreaterThan(0.92);
    expect(keptByQuantile / trials).toBeLessThan(0.65);
  });

  it('counts photos, not scores, when each photo gives several (near-copies, light variants)', () => {
    const r = seedrandom('units');
    const photos = Array.from({ length: 300 }, () => gauss(r));
    const fiveEach = photos.flatMap((p) => [p, p, p, p, p]);
    const byPhoto = chooseThreshold(photos, 0.95);
    expect(byPhoto.rule).toBe('confidence bound');
    // The same photos' scores five times over: the same threshold when counted as 300 photos; counted
    // as 1500 scores the bound would claim a confidence that five copies do not give.
    expect(chooseThreshold(fiveEach, 0.95, { units: 300 })).toEqual(byPhoto);
    expect(chooseThreshold(fiveEach, 0.95).threshold).toBeGreaterThan(byPhoto.threshold);
    expect(() => chooseThreshold(fiveEach, 0.95, { units: 1501 })).toThrow(/units must be an integer in \[1, 1500\]/);
  });

  it('fitDetector: the bound counts validation groups, and the silhouette part its groups', () => {
    const r = seedrandom('val-groups');
    const train = clusters(60, D, CENTRES, r);
    const val300 = clusters(100, D, CENTRES, r);
    // 300 validation rows in 60 groups of 5 (as near-copies): counted as 60 photos the confidence
    // bound has k = 0, so a tolerance bound on 60 photos holds, below the 9th lowest score that the
    // confidence bound takes when they are counted as 300.
    const groups = Array.from({ length: 300 }, (_, i) => Math.floor(i / 5));
    const asRows = fitDetector(train, val300, ['a', 'b', 'c'], { method: 'knn', calibrate: false });
    const asGroups = fitDetector(train, val300, ['a', 'b', 'c'], { method: 'knn', calibrate: false, valGroups: groups });
    expect(asRows.fittedOn.thresholdRule).toBe('confidence bound');
    expect(asGroups.fittedOn.thresholdRule).toBe('tolerance bound');
    expect(asGroups.threshold).toBeLessThan(asRows.threshold);
    expect(asGroups.fittedOn.thresholdGroups).toBe(60);
    expect(asRows.fittedOn).not.toHaveProperty('thresholdGroups');
    expect(() => fitDetector(train, val300, ['a', 'b', 'c'], { method: 'knn', calibrate: false, valGroups: groups.slice(1) })).toThrow(/299 validation groups for 300 validation rows/);
  });

  it('uses a tolerance bound while the confidence bound would sit on one of the two lowest scores', () => {
    const ramp = (n: number) => Array.from({ length: n }, (_, i) => i);
    // 95%: the 3rd lowest needs 124 scores (P(Bin(124, .05) >= 3) >= 0.95).
    const n3 = Array.from({ length: 400 }, (_, n) => n).find((n) => confidenceOrder(n, 0.95) >= MIN_CONFIDENCE_ORDER)!;
    expect(n3).toBe(124);
    const below = chooseThreshold(ramp(n3 - 1), 0.95);
    expect(below.rule).toBe('tolerance bound');
    // mean − k·sd of 0 … 122 (the default distance is minus the score), below their 5% quantile.
    const r = ramp(n3 - 1);
    expect(below.threshold).toBeCloseTo(mean(r) - toleranceFactor(n3 - 1, 0.95) * sdOf(r), 9);
    expect(below.threshold).toBeLessThan(quantile(r, 0.05));
    expect(chooseThreshold(ramp(n3), 0.95)).toEqual({ threshold: MIN_CONFIDENCE_ORDER - 1, rule: 'confidence bound' });
    expect(chooseThreshold(ramp(1000), 1)).toEqual({ threshold: 0, rule: 'quantile' });
  });

  it('prediction bound (the silhouette part): extrapolates only when the lowest known score accepts more than a point less than asked', () => {
    // n/(n + 1) >= rate - 0.01: 16 scores for 95% (16/17 = 94.1%), 28 for 97.5% (28/29 = 96.6%).
    expect(scoresForEmpiricalThreshold(0.95)).toBe(16);
    expect(scoresForEmpiricalThreshold(0.975)).toBe(28);
    const ramp = (n: number) => Array.from({ length: n }, (_, i) => i);
    const prediction = { smallSample: 'prediction bound' } as const;
    expect(chooseThreshold(ramp(16), 0.95, prediction).rule).toBe('quantile');
    expect(chooseThreshold(ramp(16), 0.95, prediction).threshold).toBeCloseTo(quantile(ramp(16), 0.05), 12);
    expect(chooseThreshold(ramp(15), 0.95, prediction).rule).toBe('normal bound');
    expect(chooseThreshold(ramp(15), 0.95, prediction).threshold).toBeLessThan(0);
    // The default extrapolates at 16 too: the tolerance bound lies below the quantile.
    expect(chooseThreshold(ramp(16), 0.95).rule).toBe('tolerance bound');
  });

  // Mean share of new known draws accepted, over many small fit sets (n = 6, as the 6 validation
  // photos of a 32-photo dataset): the quantile accepts about n/(n + 1), the bound about the target.
  function meanAcceptance(draw: () => number, n: number, rule: (s: number[]) => number): number {
    let acc = 0;
    const trials = 1500;
    const held = 200;
    for (let t = 0; t < trials; t++) {
      const thr = rule(Array.from({ length: n }, draw));
      for (let h = 0; h < held; h++) if (draw() >= thr) acc++;
    }
    return acc / (trials * held);
  }

  it('prediction bound: with too few known scores extrapolates so that the target share is accepted on average', () => {
    const r = seedrandom('small-normal');
    const normal = () => 3 + 0.5 * gauss(r);
    const prediction = { smallSample: 'prediction bound' } as const;
    const byQuantile = meanAcceptance(normal, 6, (s) => quantile(s, 0.05));
    const byChoice = meanAcceptance(normal, 6, (s) => chooseThreshold(s, 0.95, prediction).threshold);
    expect(byQuantile).toBeLessThan(0.9); // ≈ 6/7
    expect(byChoice).toBeGreaterThan(0.94);
    expect(byChoice).toBeLessThan(0.97);
    // kNN cosine similarities whose distance between unit vectors is normal.
    const cosine = () => 1 - (0.05 + 0.01 * gauss(r)) ** 2;
    const knn = meanAcceptance(cosine, 6, (s) => chooseThreshold(s, 0.95, { ...prediction, distance: scoreDistance('knn') }).threshold);
    expect(knn).toBeGreaterThan(0.94);
    expect(knn).toBeLessThan(0.97);
  });

  it('toleranceFactor: the one-sided normal tolerance factor (noncentral t), approximated past its reach', () => {
    // Reference values: scipy.stats.nct.ppf(0.95, n - 1, z_p·√n)/√n (and Natrella's tables: 3.707 at n = 6, 2.566 at 15).
    expect(toleranceFactor(6, 0.95)).toBeCloseTo(3.7077, 3);
    expect(toleranceFactor(15, 0.95)).toBeCloseTo(2.566, 3);
    expect(toleranceFactor(32, 0.975)).toBeCloseTo(2.5821, 3);
    expect(toleranceFactor(100, 0.95)).toBeCloseTo(1.9265, 3);
    // Past the exact computation's noncentrality (n > 104 at 97.5%): Natrella's approximation, within 0.1% here.
    expect(Math.abs(toleranceFactor(250, 0.975) / 2.1508 - 1)).toBeLessThan(0.001);
    expect(Math.abs(toleranceFactor(120, 0.975) / 2.2451 - 1)).toBeLessThan(0.002);
    // Falls with n and never below the normal quantile it tends to.
    expect(toleranceFactor(105, 0.975)).toBeLessThan(toleranceFactor(104, 0.975));
    expect(toleranceFactor(5000, 0.95)).toBeGreaterThan(jstat.jStat.normal.inv(0.95, 0, 1));
    expect(() => toleranceFactor(1, 0.95)).toThrow(/n must be an integer >= 2/);
    expect(() => toleranceFactor(10, 0.3)).toThrow(/coverage must be in \[0\.5, 1\)/);
    // At 50% coverage the bound is the mean (k = 0): half of the distribution lies below it.
    expect(toleranceFactor(10, 0.5, 0.5)).toBeCloseTo(0, 6);
  });

  it('tolerance bound: over many small validation sets it keeps the rate with 95% confidence, where the quantile does so about half the time', () => {
    // Acceptance of new draws at a threshold t is exactly 1 − Φ(t) for N(0, 1) scores; for kNN
    // similarities whose distance √(1 − s) is N(0.05, 0.01²), P(distance <= √(1 − t)).
    const r = seedrandom('tolerance');
    const trials = 2000;
    const kept = { normal: 0, knn: 0, quantile: 0 };
    const k20 = toleranceFactor(20, 0.95);
    for (let t = 0; t < trials; t++) {
      const fit = Array.from({ length: 20 }, () => gauss(r));
      // The rule's bound, or the quantile where lower (what chooseThreshold returns; checked on the first sets).
      const thr = Math.min(mean(fit) - k20 * sdOf(fit), quantile(fit, 0.05));
      if (t < 20) expect(chooseThreshold(fit, 0.95).threshold).toBeCloseTo(thr, 12);
      if (1 - jstat.jStat.normal.cdf(thr, 0, 1) >= 0.95) kept.normal++;
      if (1 - jstat.jStat.normal.cdf(quantile(fit, 0.05), 0, 1) >= 0.95) kept.quantile++;
      const dist = fit.map((z) => 0.05 + 0.01 * z);
      const dThr = Math.max(mean(dist) + k20 * sdOf(dist), quantile(dist, 0.95));
      if (t < 20) {
        const sims = dist.map((x) => 1 - x * x);
        expect(chooseThreshold(sims, 0.95, { distance: scoreDistance('knn') }).threshold).toBeCloseTo(1 - dThr * dThr, 9);
      }
      if (jstat.jStat.normal.cdf(dThr, 0.05, 0.01) >= 0.95) kept.knn++;
    }
    expect(kept.normal / trials).toBeGreaterThan(0.93);
    expect(kept.normal / trials).toBeLessThan(0.97);
    expect(kept.knn / trials).toBeGreaterThan(0.93);
    expect(kept.knn / trials).toBeLessThan(0.97);
    expect(kept.quantile / trials).toBeLessThan(0.6);
  });

  it('tolerance bound counts groups: the same scores as fewer independent photos give a lower threshold', () => {
    const r = seedrandom('tolerance-units');
    const scores = Array.from({ length: 40 }, () => gauss(r));
    const byPhoto = chooseThreshold(scores, 0.95);
    const byGroup = chooseThreshold(scores, 0.95, { units: 15 });
    expect(byPhoto.rule).toBe('tolerance bound');
    expect(byGroup.rule).toBe('tolerance bound');
    expect(byGroup.threshold).toBeLessThan(byPhoto.threshold);
    // mean − k·sd on the scores (the default distance is minus the score), k for 15 photos and the
    // spread between them: the sum of squares over 15 − 1 units of 40/15 rows each.
    const ss = sdOf(scores) ** 2 * 39;
    expect(byGroup.threshold).toBeCloseTo(mean(scores) - toleranceFactor(15, 0.95) * Math.sqrt((ss * 15) / (40 * 14)), 9);
    // Each of 8 photos 5 times over: the same threshold as the 8 photos once.
    const eight = scores.slice(0, 8);
    const copies = eight.flatMap((x) => [x, x, x, x, x]);
    const asCopies = chooseThreshold(copies, 0.95, { units: 8 });
    expect(asCopies.rule).toBe('tolerance bound');
    expect(asCopies.threshold).toBeCloseTo(chooseThreshold(eight, 0.95).threshold, 9);
    // Fewer than 3 groups: the quantile.
    const few = chooseThreshold(scores, 0.95, { units: 2 });
    expect(few.rule).toBe('quantile');
    expect(few.threshold).toBeCloseTo(quantile(scores, 0.05), 12);
  });

  it('near-duplicate validation photos (similarity ~1) do not push the kNN threshold out of range', () => {
    // Validation kNN scores of a Tiny VGG model on the parts photos: two are near-copies of
    // training photos. The bound on the distance between unit vectors stays near the scores (the
    // log of the distance put it at −468); six photos leave a wide tolerance bound (about 0.85).
    const scores = [0.97356, 0.97534, 0.99132, 0.99528, 0.99999, 1.0];
    const c = chooseThreshold(scores, Math.sqrt(0.95), { distance: scoreDistance('knn') });
    expect(c.rule).toBe('tolerance bound');
    expect(c.threshold).toBeLessThan(0.97356);
    expect(c.threshold).toBeGreaterThan(0.84);
  });

  it('falls back where the tolerance bound would accept every photo, and below 50% accepted', () => {
    // Three kNN similarities far apart: mean + k·sd of their distances (k = 7.7 for 3 photos) is past
    // √2, where 1 − d² accepts every photo; the prediction bound (or the quantile) is used instead.
    const knn = { distance: scoreDistance('knn') };
    const spread = [0.9, 0.95, 0.7];
    const c = chooseThreshold(spread, 0.95, knn);
    expect(c.rule).not.toBe('tolerance bound');
    expect(c).toEqual(chooseThreshold(spread, 0.95, { ...knn, smallSample: 'prediction bound' }));
    expect(c.threshold).toBeGreaterThan(-1);
    // Close scores keep the tolerance bound.
    expect(chooseThreshold([0.99, 0.985, 0.992], 0.95, knn).rule).toBe('tolerance bound');
    // A rate of 30%: no tolerance bound (its factor would be negative), the quantile rules.
    const five = [0.9, 0.95, 0.7, 0.8, 0.85];
    const low = chooseThreshold(five, 0.3, knn);
    expect(low.rule).toBe('quantile');
    expect(low.threshold).toBeCloseTo(quantile(five, 0.7), 12);
    // Fewer than 3 independent photos: the quantile, not a bound that would count the rows as photos.
    const six = [0.9, 0.8, 0.85, 0.7, 0.95, 0.88];
    expect(chooseThreshold(six, 0.95, { ...knn, units: 2 })).toEqual({ threshold: quantile(six, 0.05), rule: 'quantile' });
  });

  it('reports the quantile when the bound would not lie below it', () => {
    const scores = [-100, -100, ...Array.from({ length: 13 }, () => 0)];
    expect(chooseThreshold(scores, 0.95, { smallSample: 'prediction bound' })).toEqual({ threshold: -100, rule: 'quantile' });
    // A tenth of the scores far below the rest: their 5% quantile lies below mean − k·sd.
    const tail = [...Array.from({ length: 10 }, () => -100), ...Array.from({ length: 90 }, () => 0)];
    expect(chooseThreshold(tail, 0.95)).toEqual({ threshold: -100, rule: 'quantile' });
  });
});

describe('temperature scaling', () => {
  it('recovers a known temperature from over-confident logits and lowers ECE', () => {
    const r = seedrandom('temp');
    const n = 3000;
    const c = 4;
    const trueT = 2.5;
    const logits = new Float32Array(n * c);
    const labels: number[] = [];
    for (let i = 0; i < n; i++) {
      const z = Array.from({ length: c }, () => 1.5 * gauss(r));
      // Label drawn from the calibrated distribution softmax(z); the model reports z·trueT.
      const p = softmax(z);
      let u = r();
      let y = 0;
      while (y < c - 1 && (u -= p[y]) > 0) y++;
      labels.push(y);
      z.forEach((v, j) => (logits[i * c + j] = v * trueT));
    }
    const fit = fitTemperature(logits, labels, c);
    expect(fit.temperature).toBeGreaterThan(trueT * 0.9);
    expect(fit.temperature).toBeLessThan(trueT * 1.1);
    expect(fit.nllAfter).toBeLessThan(fit.nllBefore);
    expect(fit.atBound).toBe(false);
    const before = calibration(logits, labels, c, 1);
    const after = calibration(logits, labels, c, fit.temperature);
    expect(after.ece).toBeLessThan(before.ece / 2);
    expect(before.bins).toHaveLength(15);
    expect(before.bins.reduce((s, b) => s + b.count, 0)).toBe(n);
  });

  it('says when perfectly separated validation logits drive T to the end of the range', () => {
    const logits = Float32Array.from([3, 0, 0, 3, 2, -1]);
    const fit = fitTemperature(logits, [0, 1, 0], 2, { minT: 0.1 });
    expect(fit.atBound).toBe(true);
    expect(fit.temperature).toBeCloseTo(0.1, 3);
  });

  it('fitDetector keeps T = 1 when validation does not determine the temperature, and records why', () => {
    // Perfectly separated validation logits: NLL keeps falling as T -> 0, so the fit ends at its bound.
    const features = Float32Array.from([1, 0, 0, 1, 1, 0.1]);
    const logits = Float32Array.from([3, 0, 0, 3, 2, -1]);
    const rows = { features, logits, n: 3, featureDim: 2, numClasses: 2, labels: [0, 1, 0] };
    const det = fitDetector(rows, rows, ['a', 'b'], { method: 'knn' });
    expect(det.calibration?.temperatureAtBound).toBe(true);
    expect(det.temperature).toBe(1);
    expect(det.calibration?.eceAfter).toBe(det.calibration?.eceBefore);
  });
});

describe('default OOD method', () => {
  it('names an explicit, known method for every registered architecture', () => {
    for (const a of listArchs()) {
      expect(Object.keys(DEFAULT_OOD_METHOD)).toContain(a.name);
      expect(OOD_METHODS).toContain(defaultOodMethod(a.name));
    }
  });
});
