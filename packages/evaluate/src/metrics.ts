// Classification metrics computed from true labels and predicted probabilities.
// Pure functions (no tfjs) so they can be checked against hand-computed values.
import { wilson95 } from '@parts/train';

/** z for a two-sided 95% interval (the 97.5th percentile of the standard normal). */
export const Z95 = 1.959963984540054;

export interface Interval {
  low: number;
  high: number;
}

/**
 * Wilson score interval for a proportion k/n. Chosen over the normal ("Wald") interval because
 * test sets here are tiny (21 photos in the study) and accuracies near 0 or 1 are common: Wilson
 * stays inside [0, 1] and keeps close to its nominal coverage there. One implementation serves the
 * whole project: train's cross-validation needs it too, and evaluate depends on train.
 */
export function wilsonInterval(k: number, n: number, z = Z95): Interval {
  return wilson95(k, n, z);
}

/** counts[t][p] = number of samples with true class t predicted as p. */
export function confusionCounts(yTrue: number[], yPred: number[], numClasses: number): number[][] {
  checkSameLength(yTrue, yPred);
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  yTrue.forEach((t, i) => {
    const p = yPred[i];
    checkLabel(t, numClasses, 'true');
    checkLabel(p, numClasses, 'predicted');
    m[t][p]++;
  });
  return m;
}

/** Each row divided by its sum (the recall view); a class with no samples gives a zero row. */
export function rowNormalize(counts: number[][]): number[][] {
  return counts.map((row) => {
    const s = row.reduce((a, b) => a + b, 0);
    return row.map((v) => (s === 0 ? 0 : v / s));
  });
}

export interface ClassMetrics {
  support: number;
  /** Predicted-positive count 0 → 0 (scikit-learn's zero_division=0). */
  precision: number;
  recall: number;
  f1: number;
}

export function perClassMetrics(counts: number[][]): ClassMetrics[] {
  const k = counts.length;
  return counts.map((row, c) => {
    const tp = row[c];
    const support = row.reduce((a, b) => a + b, 0);
    let predicted = 0;
    for (let t = 0; t < k; t++) predicted += counts[t][c];
    const precision = predicted === 0 ? 0 : tp / predicted;
    const recall = support === 0 ? 0 : tp / support;
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    return { support, precision, recall, f1 };
  });
}

export function macroAverage(per: ClassMetrics[]): { precision: number; recall: number; f1: number } {
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  return {
    precision: mean(per.map((c) => c.precision)),
    recall: mean(per.map((c) => c.recall)),
    f1: mean(per.map((c) => c.f1)),
  };
}

/**
 * Mean recall over the classes that occur in the test set (classes with no test sample have no
 * defined recall and are left out, as scikit-learn does).
 */
export function balancedAccuracy(counts: number[][]): number {
  const recalls: number[] = [];
  counts.forEach((row, c) => {
    const support = row.reduce((a, b) => a + b, 0);
    if (support > 0) recalls.push(row[c] / support);
  });
  return recalls.length ? recalls.reduce((a, b) => a + b, 0) / recalls.length : 0;
}

/**
 * Area under the ROC curve for binary labels (1 = positive) and scores, via the Mann-Whitney U
 * statistic with average ranks, so tied scores count one half. null when only one class occurs.
 */
export function binaryRocAuc(isPositive: boolean[], scores: number[]): number | null {
  checkSameLength(isPositive, scores);
  const nPos = isPositive.filter(Boolean).length;
  const nNeg = isPositive.length - nPos;
  if (nPos === 0 || nNeg === 0) return null;
  const order = scores.map((s, i) => i).sort((a, b) => scores[a] - scores[b]);
  let rankSumPos = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1]] === scores[order[i]]) j++;
    const avgRank = (i + j) / 2 + 1; // ranks are 1-based
    for (let t = i; t <= j; t++) if (isPositive[order[t]]) rankSumPos += avgRank;
    i = j + 1;
  }
  return (rankSumPos - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

export interface RocPoint {
  fpr: number;
  tpr: number;
  /** Predicted positive when score >= threshold; null for the (0,0) start (no sample positive). */
  threshold: number | null;
}

/** ROC curve points from the strictest threshold to the loosest; tied scores form one step. */
export function rocCurve(isPositive: boolean[], scores: number[]): RocPoint[] {
  checkSameLength(isPositive, scores);
  const nPos = isPositive.filter(Boolean).length;
  const nNeg = isPositive.length - nPos;
  const order = scores.map((s, i) => i).sort((a, b) => scores[b] - scores[a]);
  const points: RocPoint[] = [{ fpr: 0, tpr: 0, threshold: null }];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < order.length; ) {
    const s = scores[order[i]];
    while (i < order.length && scores[order[i]] === s) {
      if (isPositive[order[i]]) tp++;
      else fp++;
      i++;
    }
    points.push({ fpr: nNeg ? fp / nNeg : 0, tpr: nPos ? tp / nPos : 0, threshold: s });
  }
  return points;
}

/**
 * ROC-AUC for any number of classes: binary uses p(class 1) as the score; more classes use the
 * unweighted mean of one-vs-rest AUCs over classes that have both positives and negatives.
 */
export function rocAuc(yTrue: number[], probs: ArrayLike<number>[]): { auc: number | null; perClass: (number | null)[] } {
  checkSameLength(yTrue, probs);
  const k = probs.length ? probs[0].length : 0;
  if (k === 2) {
    const auc = binaryRocAuc(yTrue.map((t) => t === 1), probs.map((p) => p[1]));
    return { auc, perClass: [auc, auc] };
  }
  const perClass: (number | null)[] = [];
  for (let c = 0; c < k; c++) {
    perClass.push(binaryRocAuc(yTrue.map((t) => t === c), probs.map((p) => p[c])));
  }
  const defined = perClass.filter((a): a is number => a !== null);
  return { auc: defined.length ? defined.reduce((a, b) => a + b, 0) / defined.length : null, perClass };
}

export const LOG_LOSS_EPS = 1e-15;

/**
 * Mean cross-entropy of the true class. Each row is renormalised to sum 1 and probabilities are
 * clipped to [eps, 1-eps] so one confident mistake gives a large but finite loss.
 */
export function logLoss(yTrue: number[], probs: ArrayLike<number>[], eps = LOG_LOSS_EPS): number {
  checkSameLength(yTrue, probs);
  if (yTrue.length === 0) return NaN;
  let total = 0;
  yTrue.forEach((t, i) => {
    const row = probs[i];
    checkLabel(t, row.length, 'true');
    let sum = 0;
    for (let j = 0; j < row.length; j++) sum += row[j];
    const p = sum > 0 ? row[t] / sum : 0;
    total += -Math.log(Math.min(1 - eps, Math.max(eps, p)));
  });
  return total / yTrue.length;
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let j = 1; j < row.length; j++) if (row[j] > row[best]) best = j;
  return best;
}

export interface ClassificationMetrics {
  n: number;
  correct: number;
  accuracy: number;
  accuracyInterval: Interval;
  balancedAccuracy: number;
  perClass: (ClassMetrics & { label: string; rocAuc: number | null })[];
  macro: { precision: number; recall: number; f1: number };
  /** Binary: AUC of p(labels[1]); more classes: macro one-vs-rest. null when undefined. */
  rocAuc: number | null;
  /** Binary: one curve for labels[1]; more classes: one one-vs-rest curve per label. */
  roc: { label: string; points: RocPoint[] }[];
  logLoss: number;
  confusion: { labels: string[]; counts: number[][]; normalized: number[][] };
}

/** All metrics at once; predictions are the argmax of each probability row. */
export function computeMetrics(yTrue: number[], probs: ArrayLike<number>[], labels: string[]): ClassificationMetrics {
  checkSameLength(yTrue, probs);
  const k = labels.length;
  probs.forEach((p, i) => {
    if (p.length !== k) throw new Error(`probability row ${i} has ${p.length} entries, expected ${k} (labels: ${labels.join(', ')})`);
  });
  const yPred = probs.map(argmax);
  const counts = confusionCounts(yTrue, yPred, k);
  const correct = yTrue.filter((t, i) => t === yPred[i]).length;
  const n = yTrue.length;
  const per = perClassMetrics(counts);
  const auc = rocAuc(yTrue, probs);
  const roc =
    k === 2
      ? [{ label: labels[1], points: rocCurve(yTrue.map((t) => t === 1), probs.map((p) => p[1])) }]
      : labels.map((label, c) => ({ label, points: rocCurve(yTrue.map((t) => t === c), probs.map((p) => p[c])) }));
  return {
    n,
    correct,
    accuracy: n ? correct / n : 0,
    accuracyInterval: wilsonInterval(correct, n),
    balancedAccuracy: balancedAccuracy(counts),
    perClass: per.map((m, c) => ({ label: labels[c], ...m, rocAuc: auc.perClass[c] ?? null })),
    macro: macroAverage(per),
    rocAuc: auc.auc,
    roc,
    logLoss: logLoss(yTrue, probs),
    confusion: { labels, counts, normalized: rowNormalize(counts) },
  };
}

function checkSameLength(a: ArrayLike<unknown>, b: ArrayLike<unknown>): void {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} true labels vs ${b.length} predictions`);
}

function checkLabel(v: number, k: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v >= k) throw new Error(`${what} label ${v} is not a class index in 0..${k - 1}`);
}
