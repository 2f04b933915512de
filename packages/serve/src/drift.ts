// The drift alarm: over a sliding window of the last N answers, is the unknown rate higher than
// the model's validation predicts? A line that drifts (new lighting, a new part, a dirty lens) shows
// first as more photos answered "unknown"; this says so before the rejects pile up.
//
// The test: under "nothing changed", each answer is unknown with probability p0, the rate validation
// predicts: 1 − acceptRate of ood.json (with a silhouette part, the sum of both parts' reject rates,
// an upper bound, since a photo is unknown when either part rejects it and they may reject the same
// photos). The alarm fires when the one-sided exact binomial tail P(X >= k | n, p0) of the window's
// k unknowns in n answers is below `pValue`. It is evaluated after every answer; consecutive windows
// share answers, so over a long run the chance of a false alarm somewhere is larger than `pValue`
// (keep pValue small: 0.001 by default), and the threshold's own sampling error on a small validation
// split (about sqrt(r(1−r)/n) for a quantile of n scores) shifts the true p0 too. A threshold set by
// chooseThreshold's confidence bound (many validation photos) or tolerance bound (fewer) rejects less
// than 1 − acceptRate of known photos (with 95% confidence, the latter for normal distances), so p0
// errs high there: the alarm is quieter, not falsely louder.
//
// The mean feature OOD score of the window is tested too, where ood.json records the mean and
// standard deviation of the scores of the photos its threshold was chosen on (fittedOn.thresholdScores):
// a one-sided z-test, P(mean <= observed) under "the window's photos score like those", whose
// standard error is sd / sqrt(scored answers). It fires (`scoreAlarm`) below the same p-value. It is
// kept apart from `alarm` (the unknown rate): the z-test on a mean of 200 answers notices shifts of a
// fifth of a standard deviation, which a change of camera angle or stock may cause without any
// photo being answered wrongly; it says "the photos look different", the unknown rate says "answers
// are being refused". Older ood.json files have no summary: scoreNote says so.
import { normalCdf, type OodSummary } from '@parts/models';

/** The fewest answers in the window before the alarm may fire (a handful of odd test photos at start-up is no drift). */
export const DRIFT_MIN_ANSWERS = 30;

/**
 * P(X >= k) for X ~ Binomial(n, p), exact (summed in log space, so tails far below 1e-300 come out
 * as 0 rather than NaN).
 */
export function binomialUpperTail(k: number, n: number, p: number): number {
  if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`binomialUpperTail: n must be an integer >= 0, got ${n}`);
  if (!Number.isInteger(k)) throw new RangeError(`binomialUpperTail: k must be an integer, got ${k}`);
  if (!(p >= 0 && p <= 1)) throw new RangeError(`binomialUpperTail: p must be in [0, 1], got ${p}`);
  if (k <= 0) return 1;
  if (k > n) return 0;
  if (p === 0) return 0;
  if (p === 1) return 1;
  const lp = Math.log(p);
  const lq = Math.log1p(-p);
  // log C(n, i) built up from log C(n, k).
  let logC = 0;
  for (let i = 0; i < k; i++) logC += Math.log(n - i) - Math.log(i + 1);
  const terms: number[] = [];
  for (let i = k; i <= n; i++) {
    terms.push(logC + i * lp + (n - i) * lq);
    logC += Math.log(n - i) - Math.log(i + 1);
  }
  const max = Math.max(...terms);
  let sum = 0;
  for (const t of terms) sum += Math.exp(t - max);
  return Math.min(1, Math.exp(max + Math.log(sum)));
}

/**
 * The unknown rate validation predicts for a detector, or why there is none: no detector (nothing
 * is ever unknown), or a threshold replaced by --unknown-threshold (validation did not measure it).
 */
export function expectedUnknownRate(ood: OodSummary | null): { rate: number; basis: string } | { rate: null; reason: string } {
  if (!ood) return { rate: null, reason: 'no model in service' };
  if (!ood.active) return { rate: null, reason: `no unknown detection (${ood.reason})` };
  if (ood.thresholdOverridden) return { rate: null, reason: 'the OOD threshold was replaced (--unknown-threshold): validation did not measure the unknown rate at it' };
  const feature = 1 - ood.acceptRate;
  if (!ood.silhouette) return { rate: feature, basis: `1 - acceptRate (${ood.acceptRate}) of ood.json` };
  const shape = 1 - ood.silhouette.acceptRate;
  return {
    rate: Math.min(1, feature + shape),
    basis: `(1 - acceptRate ${ood.acceptRate}) + (1 - silhouette acceptRate ${ood.silhouette.acceptRate}) of ood.json: an upper bound, either part rejects`,
  };
}

export interface DriftOptions {
  /** Answers in the sliding window. */
  window: number;
  /** The alarm fires when the binomial tail probability is below this. */
  pValue: number;
}

export interface DriftStatus {
  /** The model whose answers the window holds (the window restarts when the model changes). */
  modelId: string | null;
  window: number;
  /** Answers now in the window (at most `window`). */
  answers: number;
  unknown: number;
  /** unknown / answers; null before the first answer. */
  unknownRate: number | null;
  /** The rate validation predicts, null with `reason` when there is none to test against. */
  expectedUnknownRate: number | null;
  basis?: string;
  reason?: string;
  /** P(X >= unknown | answers, expectedUnknownRate); null when not tested. */
  pValue: number | null;
  alarmPValue: number;
  minAnswers: number;
  alarm: boolean;
  /** Mean feature OOD score of the window's answers that have one; null when none. */
  meanOodScore: number | null;
  /** The mean of the scores of the photos the threshold was chosen on (ood.json), when recorded. */
  expectedMeanOodScore: number | null;
  /** P(mean <= meanOodScore) under the validation scores' mean and spread (z-test); null when not tested. */
  scorePValue: number | null;
  /** scorePValue below alarmPValue with at least minAnswers scored answers. */
  scoreAlarm: boolean;
  /** Why the mean score is not tested, when it is not. */
  scoreNote?: string;
}

export const SCORE_NOTE = 'not tested: this ood.json records no summary of the validation scores to compare the mean with (written before it was recorded; retrain to get one)';

/** The sliding window of one server's answers. */
export class DriftMonitor {
  private unknowns: Uint8Array;
  private scores: Float64Array;
  private next = 0;
  private count = 0;
  private unknownCount = 0;
  private modelId: string | null = null;

  constructor(readonly opts: DriftOptions) {
    if (!(Number.isInteger(opts.window) && opts.window >= 1)) throw new RangeError(`drift window must be an integer >= 1, got ${opts.window}`);
    if (!(opts.pValue > 0 && opts.pValue < 1)) throw new RangeError(`drift p-value must be in (0, 1), got ${opts.pValue}`);
    this.unknowns = new Uint8Array(opts.window);
    this.scores = new Float64Array(opts.window);
  }

  /** Records one answer of model `modelId`; an answer of another model first empties the window. */
  add(modelId: string, unknown: boolean, oodScore: number | null): void {
    if (modelId !== this.modelId) this.reset(modelId);
    const w = this.opts.window;
    if (this.count === w) this.unknownCount -= this.unknowns[this.next]!;
    else this.count++;
    this.unknowns[this.next] = unknown ? 1 : 0;
    this.scores[this.next] = oodScore ?? NaN;
    this.unknownCount += unknown ? 1 : 0;
    this.next = (this.next + 1) % w;
  }

  reset(modelId: string | null = null): void {
    this.modelId = modelId;
    this.next = 0;
    this.count = 0;
    this.unknownCount = 0;
  }

  /** The window against `ood`, the detector of the model in service (whose id must match the window's to be tested). */
  status(ood: OodSummary | null, servingId: string | null): DriftStatus {
    const { window, pValue: alarmPValue } = this.opts;
    const sameModel = this.modelId !== null && this.modelId === servingId;
    const answers = sameModel ? this.count : 0;
    const unknown = sameModel ? this.unknownCount : 0;
    let sum = 0;
    let scored = 0;
    if (sameModel) {
      for (let i = 0; i < this.count; i++) {
        const s = this.scores[i]!;
        if (Number.isFinite(s)) {
          sum += s;
          scored++;
        }
      }
    }
    const expected = expectedUnknownRate(servingId === null ? null : ood);
    const base = {
      modelId: servingId,
      window,
      answers,
      unknown,
      unknownRate: answers ? unknown / answers : null,
      alarmPValue,
      minAnswers: Math.min(window, DRIFT_MIN_ANSWERS),
      meanOodScore: scored ? sum / scored : null,
      ...meanScoreTest(ood, scored ? sum / scored : null, scored, alarmPValue, Math.min(window, DRIFT_MIN_ANSWERS)),
    };
    if (expected.rate === null) return { ...base, expectedUnknownRate: null, reason: expected.reason, pValue: null, alarm: false };
    const p = answers ? binomialUpperTail(unknown, answers, expected.rate) : null;
    const alarm = p !== null && answers >= base.minAnswers && p < alarmPValue;
    return { ...base, expectedUnknownRate: expected.rate, basis: expected.basis, pValue: p, alarm };
  }
}

/** The window's mean feature score against the validation scores' mean and spread (ood.json). */
function meanScoreTest(
  ood: OodSummary | null,
  mean: number | null,
  scored: number,
  alarmPValue: number,
  minAnswers: number,
): Pick<DriftStatus, 'expectedMeanOodScore' | 'scorePValue' | 'scoreAlarm' | 'scoreNote'> {
  const v = ood?.active ? ood.thresholdScores : undefined;
  if (!v) return { expectedMeanOodScore: null, scorePValue: null, scoreAlarm: false, scoreNote: SCORE_NOTE };
  if (mean === null || !(v.sd > 0)) return { expectedMeanOodScore: v.mean, scorePValue: null, scoreAlarm: false, ...(v.sd > 0 ? {} : { scoreNote: 'not tested: the validation scores have no spread' }) };
  const p = normalCdf((mean - v.mean) / (v.sd / Math.sqrt(scored)));
  return { expectedMeanOodScore: v.mean, scorePValue: p, scoreAlarm: scored >= minAnswers && p < alarmPValue };
}
