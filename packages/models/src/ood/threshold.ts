/**
 * The accept/reject threshold, chosen on scores of KNOWN photos that were not trained on (the
 * validation split or cross-validation folds) — never on the test split or on unknowns.
 */

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
 * Threshold at which a share `acceptRate` of known photos is accepted (score >= threshold): the
 * (1 − acceptRate) quantile of their scores, type-7 interpolated. With n known scores the realised
 * acceptance on new photos has sampling error of about sqrt(r(1−r)/n) (≈ 5 points at n = 20).
 */
export function thresholdAtAcceptRate(knownScores: ArrayLike<number>, acceptRate = DEFAULT_ACCEPT_RATE): number {
  if (!(acceptRate > 0 && acceptRate <= 1)) throw new RangeError(`acceptRate must be in (0, 1] (got ${acceptRate})`);
  return quantile(knownScores, 1 - acceptRate);
}
