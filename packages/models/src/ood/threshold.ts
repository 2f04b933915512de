/**
 * The accept/reject threshold, chosen on scores of KNOWN photos that were not trained on (the
 * validation split or cross-validation folds) — never on the test split or on unknowns.
 */
import jstat from 'jstat';

export const DEFAULT_ACCEPT_RATE = 0.95;

/**
 * Quantile of `values` at probability q with linear interpolation between order statistics
 * (Hyndman & Fan type 7, numpy's default): h = (n − 1)·q, x[⌊h⌋] + (h − ⌊h⌋)(x[⌊h⌋+1] − x[⌊h⌋]).
 */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile: q must be in [0, 1] (got ${q})`);
  const xs = Float64Array.from(values).sort();
  if (!xs.length) throw new Error('quantile of no values');
  if (xs.some((v) => !Number.isFinite(v))) throw new Error('quantile: values must be finite');
  const h = (xs.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, xs.length - 1);
  return xs[lo] + (h - lo) * (xs[hi] - xs[lo]);
}

/**
 * The fewest known scores for which an order statistic of them accepts `acceptRate` of new known
 * photos in expectation: a threshold at the lowest of n exchangeable scores accepts n/(n + 1) of
 * new ones, so n ≥ acceptRate / (1 − acceptRate) — 19 for 95%, 39 for 97.5%.
 */
export function scoresForEmpiricalThreshold(acceptRate: number): number {
  return Math.ceil(acceptRate / (1 - acceptRate) - 1e-9);
}

export interface ThresholdOptions {
  /**
   * The best score a photo can get (a perfect match: 1 for cosine similarity, 0 for minus a
   * distance); the small-sample bound is then taken on log(ceiling − score), the log distance,
   * whose spread is closer to normal. Absent: on the score itself.
   */
  ceiling?: number;
}

export interface ThresholdChoice {
  threshold: number;
  /**
   * 'quantile': the (1 − acceptRate) quantile of the known scores; 'normal bound': with fewer
   * than scoresForEmpiricalThreshold(acceptRate) scores, the lower of that quantile and a normal
   * prediction bound (below).
   */
  rule: 'quantile' | 'normal bound';
}

/**
 * Threshold at which a share `acceptRate` of new known photos is accepted (score >= threshold).
 *
 * With enough known scores it is their (1 − acceptRate) quantile, type-7 interpolated; the realised
 * acceptance then has a sampling error of about sqrt(r(1−r)/n) (≈ 5 points at n = 20).
 *
 * With fewer (e.g. the 6 validation photos of a 32-photo dataset), no order statistic can do it —
 * the lowest of 6 accepts only 6/7 = 86% of new photos in expectation — so the threshold is
 * extrapolated below the known scores: the one-sided normal prediction bound for one new
 * observation, mean − t(acceptRate, n − 1) · sd · sqrt(1 + 1/n), taken on the log distance to
 * `ceiling` when one is given. The lower of it and the quantile is used, so it never rejects more
 * than the quantile would.
 */
export function chooseThreshold(knownScores: ArrayLike<number>, acceptRate = DEFAULT_ACCEPT_RATE, opts: ThresholdOptions = {}): ThresholdChoice {
  if (!(acceptRate > 0 && acceptRate <= 1)) throw new RangeError(`acceptRate must be in (0, 1] (got ${acceptRate})`);
  const empirical = quantile(knownScores, 1 - acceptRate);
  const n = knownScores.length;
  if (acceptRate === 1 || n >= scoresForEmpiricalThreshold(acceptRate) || n < 3) return { threshold: empirical, rule: 'quantile' };
  const { ceiling } = opts;
  // u grows as a photo looks less known; the bound is an upper bound on u.
  const toU = (s: number) => (ceiling === undefined ? -s : Math.log(Math.max(ceiling - s, 1e-12)));
  const fromU = (u: number) => (ceiling === undefined ? -u : ceiling - Math.exp(u));
  const u = Array.from(knownScores, toU);
  const mean = u.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(u.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  const bound = fromU(mean + jstat.jStat.studentt.inv(acceptRate, n - 1) * sd * Math.sqrt(1 + 1 / n));
  return { threshold: Math.min(empirical, bound), rule: 'normal bound' };
}

/** chooseThreshold's threshold. */
export function thresholdAtAcceptRate(knownScores: ArrayLike<number>, acceptRate = DEFAULT_ACCEPT_RATE, opts: ThresholdOptions = {}): number {
  return chooseThreshold(knownScores, acceptRate, opts).threshold;
}
