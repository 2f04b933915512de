// McNemar's test for two classifiers answering the same photos: only the discordant photos count
// (b = right only by the first, c = right only by the second). With few of them (b + c < 25) the
// exact two-sided binomial test (min(b, c) of b + c at p = 1/2) is used, as the chi-squared
// approximation is poor there; otherwise the chi-squared statistic with continuity correction.
import { erfc } from '@parts/models';

export { erfc };

export interface McNemarResult {
  /** Photos only the first model answered right. */
  b: number;
  /** Photos only the second model answered right. */
  c: number;
  method: 'exact binomial' | 'chi-squared with continuity correction' | 'no discordant photos';
  /** Two-sided p-value (1 when there are no discordant photos). */
  p: number;
  statistic?: number;
}

/** Discordant counts below this use the exact test. */
export const MCNEMAR_EXACT_BELOW = 25;

export function mcnemar(b: number, c: number): McNemarResult {
  if (!(Number.isInteger(b) && Number.isInteger(c) && b >= 0 && c >= 0)) throw new RangeError(`McNemar counts must be integers >= 0 (got ${b}, ${c})`);
  const n = b + c;
  if (n === 0) return { b, c, method: 'no discordant photos', p: 1 };
  if (n < MCNEMAR_EXACT_BELOW) {
    const k = Math.min(b, c);
    let tail = 0;
    for (let i = 0; i <= k; i++) tail += Math.exp(logChoose(n, i) - n * Math.LN2);
    return { b, c, method: 'exact binomial', p: Math.min(1, 2 * tail) };
  }
  const statistic = (Math.abs(b - c) - 1) ** 2 / n;
  // Survival function of chi-squared with 1 degree of freedom: erfc(sqrt(x / 2)).
  return { b, c, method: 'chi-squared with continuity correction', statistic, p: Math.min(1, erfc(Math.sqrt(statistic / 2))) };
}

/** McNemar from two per-photo correctness lists of the same photos. */
export function mcnemarPaired(firstRight: readonly boolean[], secondRight: readonly boolean[]): McNemarResult {
  if (firstRight.length !== secondRight.length) throw new Error(`McNemar needs the same photos: ${firstRight.length} vs ${secondRight.length} answers`);
  let b = 0;
  let c = 0;
  firstRight.forEach((r, i) => {
    if (r && !secondRight[i]) b++;
    else if (!r && secondRight[i]) c++;
  });
  return mcnemar(b, c);
}

function logChoose(n: number, k: number): number {
  let s = 0;
  for (let i = 1; i <= k; i++) s += Math.log(n - k + i) - Math.log(i);
  return s;
}
