/**
 * The accept/reject threshold, chosen on scores of KNOWN photos that were not trained on (the
 * validation split or cross-validation folds) — never on the test split or on unknowns.
 */
import jstat from 'jstat';
import { DEFAULT_ACCEPT_RATE } from '@parts/cli';

/** The settings schema's default share of known photos accepted (one value for training, the OOD study and the detector). */
export { DEFAULT_ACCEPT_RATE };

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
 * How far (in share of photos) the lowest known score may fall short of the accept rate before
 * the threshold is extrapolated below it instead.
 */
export const EXTRAPOLATION_SHORTFALL = 0.01;

/**
 * The fewest known scores for which chooseThreshold takes a quantile of them: a threshold at the
 * lowest of n exchangeable scores accepts n/(n + 1) of new ones in expectation, which must be
 * within EXTRAPOLATION_SHORTFALL of acceptRate — 16 for 95%, 28 for 97.5%.
 */
export function scoresForEmpiricalThreshold(acceptRate: number): number {
  const r = acceptRate - EXTRAPOLATION_SHORTFALL;
  return Math.ceil(r / (1 - r) - 1e-9);
}

/** How a score maps to a distance (growing as a photo looks less known) and back. */
export interface ScoreDistance {
  of(score: number): number;
  score(distance: number): number;
  /**
   * The largest distance any photo can have (kNN: √2, opposite unit vectors), where one is known: a
   * small-sample bound at or beyond it would accept every photo, and chooseThreshold falls back.
   */
  max?: number;
}

/** The default: the distance is minus the score. */
export const NEGATED_SCORE: ScoreDistance = { of: (s) => -s, score: (d) => -d };

export interface ThresholdOptions {
  /**
   * The distance whose spread the small-sample bound takes as normal (scoreDistance(method) for
   * the feature scorers: e.g. the Euclidean distance between unit vectors for kNN). Default:
   * minus the score.
   */
  distance?: ScoreDistance;
  /**
   * How many independent photos the scores come from, when fewer than the scores (near-duplicate
   * groups, a photo and its line-light variants): the confidence bound counts these, not the scores.
   * Default: one per score.
   */
  units?: number;
  /**
   * The rule where the confidence bound does not apply (too few photos for it): 'tolerance bound'
   * (default) or 'prediction bound'; see chooseThreshold.
   */
  smallSample?: 'tolerance bound' | 'prediction bound';
}

export interface ThresholdChoice {
  threshold: number;
  /**
   * 'confidence bound': with enough known scores, the order statistic that accepts at least
   * acceptRate of new known photos with ACCEPT_CONFIDENCE (confidenceOrder); 'quantile': the
   * (1 − acceptRate) quantile of the known scores; 'tolerance bound': with fewer, a normal tolerance
   * bound that lies below that quantile; 'normal bound': with fewer than
   * scoresForEmpiricalThreshold(acceptRate) scores, a normal prediction bound that lies below the
   * quantile, under the 'prediction bound' small-sample rule or where the tolerance bound falls back
   * to it (chooseThreshold).
   */
  rule: 'confidence bound' | 'quantile' | 'tolerance bound' | 'normal bound';
}

/**
 * The confidence with which a threshold set on many known scores keeps its accept rate: the share of
 * new known photos accepted is itself random (it depends on which photos happened to be validation
 * photos), and a threshold at the plain (1 − rate) quantile accepts less than the rate about half the
 * time.
 */
export const ACCEPT_CONFIDENCE = 0.95;

/**
 * The lowest order statistic the confidence bound may use: below it (fewer than 124 scores at 95%,
 * about 250 at 97.5%) the threshold would sit on one of the two lowest known scores, which one unusual
 * photo moves far (see chooseThreshold), and the small-sample rules apply.
 */
export const MIN_CONFIDENCE_ORDER = 3;

/**
 * The largest k such that accepting scores >= the k-th lowest of n exchangeable known scores
 * accepts at least `acceptRate` of new known photos with probability >= `confidence`; 0 when not even
 * the lowest score does. The share of new photos rejected at the k-th lowest score is distributed as
 * Beta(k, n − k + 1), and P(Beta(k, n − k + 1) <= 1 − rate) = P(Binomial(n, 1 − rate) >= k)
 * (Wilks' tolerance limits; with k = 1, the 59 scores of the classic 95%/95% rule).
 */
export function confidenceOrder(n: number, acceptRate: number, confidence = ACCEPT_CONFIDENCE): number {
  if (!(acceptRate > 0 && acceptRate < 1)) throw new RangeError(`confidenceOrder: acceptRate must be in (0, 1) (got ${acceptRate})`);
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidenceOrder: confidence must be in (0, 1) (got ${confidence})`);
  let k = 0;
  // P(Bin >= k + 1) = 1 − cdf(k)
  while (k < n && 1 - jstat.jStat.binomial.cdf(k, n, 1 - acceptRate) >= confidence) k++;
  return k;
}

/**
 * Threshold at which a share `acceptRate` of new known photos is accepted (score >= threshold).
 *
 * With enough known scores that the confidence bound leaves at least MIN_CONFIDENCE_ORDER − 1 of them
 * below it, it is the confidenceOrder(n, acceptRate)-th lowest score (counted in `opts.units` when
 * the scores come from fewer independent photos, at the same share of the scores): at least
 * acceptRate of new known photos are then accepted with ACCEPT_CONFIDENCE, where the quantile below
 * accepts acceptRate only on average (of 1,327 scores at 95%: the 54th lowest, where the 5% quantile
 * lies between the 67th and the 68th).
 *
 * With fewer (`opts.smallSample` 'tolerance bound', the default, used for the feature scores) it is
 * the one-sided normal tolerance bound mean + toleranceFactor(units, acceptRate) · sd on the distance
 * `opts.distance`, the units being the independent photos or groups (from 3; fewer give the
 * quantile) and the spread taken between units, as if each group's rows coincided; or their (1 −
 * acceptRate) quantile where that lies lower. A bound at or past the distance's largest possible
 * value (`distance.max`), which would accept every photo, and accept rates up to 50% fall back to
 * the 'prediction bound' rules below. If the distances are normal, it accepts at least acceptRate of
 * new known photos with ACCEPT_CONFIDENCE, as the confidence bound does without that assumption;
 * the quantile accepts a little less than acceptRate on average near the lowest scores
 * (about r − 0.9/(n + 1) for normal scores: 91% at n = 20 for 95%), and less than it on about half
 * of the validation sets. With 40 validation photos in 15–27 groups (casting's 100-per-class
 * subset, three seeds) the quantile accepted 295, 313 and 299 of 325 new test photos, the bound
 * 310, 322 and 310; bolts-nuts 53 and 54 of 56.
 *
 * 'prediction bound' (the silhouette part: on its shape distances a tolerance bound rejected 287
 * of the CI gate's 336 left-out bolts and nuts over six seeds, against 309 with this rule): the (1 −
 * acceptRate) quantile, type-7 interpolated, which is robust to one outlying known score where the
 * unbiased order statistic (type 6, here the lowest score) is not — one unusual silhouette among 32
 * moved that threshold from −2.2 to −6.5 and let 111 of 112 nuts through. With fewer scores than
 * scoresForEmpiricalThreshold (e.g. the 6 validation photos of a 32-photo dataset: the lowest of 6
 * accepts only 6/7 = 86%) the lower of that quantile and the one-sided normal prediction bound for
 * one new observation, mean + t(acceptRate, n − 1) · sd · sqrt(1 + 1/n), on the distance.
 */
export function chooseThreshold(knownScores: ArrayLike<number>, acceptRate = DEFAULT_ACCEPT_RATE, opts: ThresholdOptions = {}): ThresholdChoice {
  if (!(acceptRate > 0 && acceptRate <= 1)) throw new RangeError(`acceptRate must be in (0, 1] (got ${acceptRate})`);
  const empirical = quantile(knownScores, 1 - acceptRate);
  const quantileChoice: ThresholdChoice = { threshold: empirical, rule: 'quantile' };
  const n = knownScores.length;
  const units = opts.units ?? n;
  if (!(Number.isInteger(units) && units >= 1 && units <= n)) throw new RangeError(`chooseThreshold: units must be an integer in [1, ${n}] (got ${units})`);
  if (acceptRate < 1) {
    const k = confidenceOrder(units, acceptRate);
    if (k >= MIN_CONFIDENCE_ORDER) {
      // k of the units, taken as the same share of the scores (rounded down: the lower score).
      const bound = Float64Array.from(knownScores).sort()[Math.floor((k * n) / units) - 1];
      return bound < empirical ? { threshold: bound, rule: 'confidence bound' } : quantileChoice;
    }
  }
  if (acceptRate === 1) return quantileChoice;
  const dist = opts.distance ?? NEGATED_SCORE;
  const d = Array.from(knownScores, (s) => dist.of(s));
  const mean = d.reduce((a, b) => a + b, 0) / n;
  const ss = d.reduce((a, b) => a + (b - mean) ** 2, 0);
  // A bound at or past the largest possible distance would accept every photo.
  const lower = (distance: number, rule: ThresholdChoice['rule']): ThresholdChoice | null => {
    if (dist.max !== undefined && !(distance < dist.max)) return null;
    const bound = dist.score(distance);
    return bound < empirical ? { threshold: bound, rule } : quantileChoice;
  };
  const tolerance = opts.smallSample !== 'prediction bound' && acceptRate > 0.5;
  if (tolerance && units < 3) return quantileChoice;
  if (tolerance) {
    // The spread between independent photos: rows of one group (near-copies) spread less than
    // photos do, so the sum of squares is taken per unit, as if each group's rows coincided (exact
    // for groups of one size whose rows coincide, a little wider when rows within a group differ).
    const sd = Math.sqrt((ss * units) / (n * (units - 1)));
    const choice = lower(mean + toleranceFactor(units, acceptRate) * sd, 'tolerance bound');
    if (choice) return choice;
  }
  if (n >= scoresForEmpiricalThreshold(acceptRate) || n < 3) return quantileChoice;
  const sd = Math.sqrt(ss / (n - 1));
  return lower(mean + jstat.jStat.studentt.inv(acceptRate, n - 1) * Math.sqrt(1 + 1 / n) * sd, 'normal bound') ?? quantileChoice;
}

/** Above this noncentrality toleranceFactor uses Natrella's approximation (jStat's noncentral t CDF fails from about 26). */
const EXACT_TOLERANCE_MAX_NCP = 20;

/**
 * One-sided normal tolerance factor k: with n independent normal draws, mean + k·sd lies above a
 * share `coverage` of the distribution with probability `confidence`. Exactly k = t'⁻¹(confidence;
 * n − 1, z(coverage)·√n)/√n, the noncentral t quantile (by bisection on its CDF), while the
 * noncentrality is at most EXACT_TOLERANCE_MAX_NCP; above it (n > 147 at 95%, n > 104 at 97.5%)
 * Natrella's approximation (z_p + √(z_p² − ab))/a, a = 1 − z_γ²/(2(n − 1)), b = z_p² − z_γ²/n,
 * which lies up to 0.15% below the exact factor there. Coverage and confidence from 0.5: below, the
 * factor is negative (a bound below the mean), which no threshold here asks for.
 */
export function toleranceFactor(n: number, coverage: number, confidence = ACCEPT_CONFIDENCE): number {
  if (!(Number.isInteger(n) && n >= 2)) throw new RangeError(`toleranceFactor: n must be an integer >= 2 (got ${n})`);
  if (!(coverage >= 0.5 && coverage < 1)) throw new RangeError(`toleranceFactor: coverage must be in [0.5, 1) (got ${coverage})`);
  if (!(confidence >= 0.5 && confidence < 1)) throw new RangeError(`toleranceFactor: confidence must be in [0.5, 1) (got ${confidence})`);
  const zp = jstat.jStat.normal.inv(coverage, 0, 1);
  const ncp = zp * Math.sqrt(n);
  if (ncp > EXACT_TOLERANCE_MAX_NCP) {
    const zg = jstat.jStat.normal.inv(confidence, 0, 1);
    const a = 1 - zg ** 2 / (2 * (n - 1));
    const b = zp ** 2 - zg ** 2 / n;
    return (zp + Math.sqrt(zp ** 2 - a * b)) / a;
  }
  // The noncentral t's median lies at or above its noncentrality, so cdf(ncp) <= 0.5 <= confidence.
  let lo = ncp;
  let hi = ncp + 1;
  while (jstat.jStat.noncentralt.cdf(hi, n - 1, ncp) < confidence) hi *= 2;
  for (let i = 0; i < 100 && hi - lo > 1e-10 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (jstat.jStat.noncentralt.cdf(mid, n - 1, ncp) < confidence) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2 / Math.sqrt(n);
}
