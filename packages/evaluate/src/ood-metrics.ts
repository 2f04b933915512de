/**
 * Metrics of out-of-distribution detection. Scores follow the scorers' convention: higher = more
 * in-distribution; a photo is accepted (called known) when score >= threshold.
 */

/**
 * AUROC of separating known (positive) from unknown (negative) by score: the probability that a
 * random known photo scores above a random unknown one, ties counting 1/2 (Mann–Whitney U with
 * mid-ranks).
 */
export function aurocKnownVsUnknown(known: ArrayLike<number>, unknown: ArrayLike<number>): number {
  const nk = known.length;
  const nu = unknown.length;
  if (!nk || !nu) throw new Error(`AUROC needs known and unknown scores (got ${nk} known, ${nu} unknown)`);
  const all = [...Array.from(known, (s) => ({ s, k: 1 })), ...Array.from(unknown, (s) => ({ s, k: 0 }))].sort((a, b) => a.s - b.s);
  let rankSumKnown = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j].s === all[i].s) j++;
    const mid = (i + 1 + j) / 2; // mean of ranks i+1..j
    for (let t = i; t < j; t++) if (all[t].k) rankSumKnown += mid;
    i = j;
  }
  return (rankSumKnown - (nk * (nk + 1)) / 2) / (nk * nu);
}

/**
 * Share of unknown photos accepted when the threshold accepts `knownRate` (default 95%) of the
 * known photos given here: the threshold is the largest score that still accepts at least
 * ceil(knownRate·n) known photos (so the known acceptance is >= knownRate, as FPR@95%TPR).
 */
export function fprAtKnownRate(known: ArrayLike<number>, unknown: ArrayLike<number>, knownRate = 0.95): { fpr: number; threshold: number } {
  if (!known.length || !unknown.length) throw new Error('FPR needs known and unknown scores');
  const sorted = Float64Array.from(known).sort().reverse();
  const need = Math.max(1, Math.ceil(knownRate * sorted.length - 1e-9));
  const threshold = sorted[need - 1];
  let acc = 0;
  for (let i = 0; i < unknown.length; i++) if (unknown[i] >= threshold) acc++;
  return { fpr: acc / unknown.length, threshold };
}

export interface SelectiveResult {
  /** Share of known photos accepted. */
  coverage: number;
  /** Accuracy on the accepted known photos (NaN when none accepted). */
  accuracy: number;
  accepted: number;
  n: number;
}

/** Coverage and accuracy on the known photos a detector accepted (e.g. oodVerdicts().accepted). */
export function selectiveAccuracyOf(accepted: ArrayLike<boolean>, correct: ArrayLike<boolean>): SelectiveResult {
  if (accepted.length !== correct.length) throw new Error(`${accepted.length} acceptance flags for ${correct.length} correctness flags`);
  let a = 0;
  let right = 0;
  for (let i = 0; i < accepted.length; i++) {
    if (accepted[i]) {
      a++;
      if (correct[i]) right++;
    }
  }
  return { coverage: accepted.length ? a / accepted.length : NaN, accuracy: a ? right / a : NaN, accepted: a, n: accepted.length };
}

export interface RiskCoveragePoint {
  coverage: number;
  /** Error rate on the accepted photos (1 − selective accuracy). */
  risk: number;
  threshold: number;
}

/**
 * Risk–coverage curve: photos sorted by score (highest first); one point per distinct score, at
 * the coverage that accepts every photo scoring >= it. Also the area under it (AURC, mean risk).
 */
export function riskCoverage(scores: ArrayLike<number>, correct: ArrayLike<boolean>): { points: RiskCoveragePoint[]; aurc: number } {
  if (scores.length !== correct.length) throw new Error(`${scores.length} scores for ${correct.length} correctness flags`);
  const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  const points: RiskCoveragePoint[] = [];
  let wrong = 0;
  let aurc = 0;
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j < idx.length && scores[idx[j]] === scores[idx[i]]) {
      if (!correct[idx[j]]) wrong++;
      j++;
    }
    const risk = wrong / j;
    aurc += risk * ((j - i) / idx.length);
    points.push({ coverage: j / idx.length, risk, threshold: scores[idx[i]] });
    i = j;
  }
  return { points, aurc };
}
