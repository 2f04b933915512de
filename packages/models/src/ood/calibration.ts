/**
 * Temperature scaling (Guo et al., 2017): one T > 0 divides the logits; fitted on validation logits
 * by minimising the negative log-likelihood with a golden-section search on log T. Also the expected
 * calibration error (equal-width confidence bins) and the reliability diagram's data.
 */
import { logSumExp, softmax } from './scorers';

/** Mean negative log-likelihood of labels under softmax(logits / t); logits row-major [n, c]. */
export function nll(logits: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number, t = 1): number {
  const n = labels.length;
  if (logits.length !== n * numClasses) throw new Error(`nll: ${logits.length} logits for ${n} labels of ${numClasses} classes`);
  let s = 0;
  for (let i = 0; i < n; i++) {
    const row = Array.prototype.slice.call(logits, i * numClasses, (i + 1) * numClasses) as number[];
    s += logSumExp(row, t) - row[labels[i]] / t;
  }
  return s / n;
}

export interface TemperatureFit {
  temperature: number;
  /**
   * The minimum lies at the end of the search range. Happens when every validation photo is
   * classified right with a margin (the NLL then keeps falling as T -> 0): the data cannot fix T,
   * the probabilities at that T are near 0/1, and a caller may prefer T = 1 or more validation data.
   */
  atBound: boolean;
  nllBefore: number;
  nllAfter: number;
}

/**
 * T minimising the NLL, searched on log T in [log minT, log maxT] (default 0.05..20) by golden
 * section to a relative precision of 1e-4 (the NLL is convex in 1/T, unimodal in log T).
 */
export function fitTemperature(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  numClasses: number,
  opts: { minT?: number; maxT?: number } = {},
): TemperatureFit {
  if (!labels.length) throw new Error('fitTemperature: no validation samples');
  const lo = Math.log(opts.minT ?? 0.05);
  const hi = Math.log(opts.maxT ?? 20);
  let a = lo;
  let b = hi;
  const f = (lt: number) => nll(logits, labels, numClasses, Math.exp(lt));
  const g = (Math.sqrt(5) - 1) / 2;
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = f(c);
  let fd = f(d);
  while (b - a > 1e-4) {
    if (fc <= fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  const temperature = Math.exp((a + b) / 2);
  const atBound = (a + b) / 2 - lo < 1e-3 || hi - (a + b) / 2 < 1e-3;
  return { temperature, atBound, nllBefore: nll(logits, labels, numClasses, 1), nllAfter: nll(logits, labels, numClasses, temperature) };
}

export interface ReliabilityBin {
  /** Bin's confidence range [lo, hi). */
  lo: number;
  hi: number;
  count: number;
  /** Mean top-class probability in the bin (NaN when empty). */
  confidence: number;
  /** Share of the bin's samples whose top class is right (NaN when empty). */
  accuracy: number;
}

export interface Calibration {
  ece: number;
  bins: ReliabilityBin[];
}

export const ECE_BINS = 15;

/** Expected calibration error over `bins` equal-width confidence bins, and the per-bin data. */
export function calibration(logits: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number, t = 1, bins = ECE_BINS): Calibration {
  const n = labels.length;
  if (logits.length !== n * numClasses) throw new Error(`calibration: ${logits.length} logits for ${n} labels of ${numClasses} classes`);
  const sumConf = new Float64Array(bins);
  const sumAcc = new Float64Array(bins);
  const count = new Float64Array(bins);
  for (let i = 0; i < n; i++) {
    const p = softmax(Array.prototype.slice.call(logits, i * numClasses, (i + 1) * numClasses) as number[], t);
    let top = 0;
    for (let j = 1; j < numClasses; j++) if (p[j] > p[top]) top = j;
    const b = Math.min(bins - 1, Math.floor(p[top] * bins));
    sumConf[b] += p[top];
    sumAcc[b] += top === labels[i] ? 1 : 0;
    count[b]++;
  }
  let ece = 0;
  const out: ReliabilityBin[] = [];
  for (let b = 0; b < bins; b++) {
    const conf = count[b] ? sumConf[b] / count[b] : NaN;
    const acc = count[b] ? sumAcc[b] / count[b] : NaN;
    if (count[b]) ece += (count[b] / n) * Math.abs(conf - acc);
    out.push({ lo: b / bins, hi: (b + 1) / bins, count: count[b], confidence: conf, accuracy: acc });
  }
  return { ece, bins: out };
}
