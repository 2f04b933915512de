/**
 * Out-of-distribution scorers. Convention: a score is HIGHER for photos that look more like the
 * training data ("in-distribution"); a photo is accepted as known when score >= threshold.
 *
 * - msp:         maximum softmax probability of the raw logits (the baseline).
 * - energy:      T·logsumexp(logits / T) (the negative free energy), T = 1 by default.
 * - mahalanobis: minus the smallest squared Mahalanobis distance of the penultimate features to a
 *                class mean, with ONE covariance shared by all classes (pooled within-class),
 *                shrunk toward (trace/d)·I by Ledoit-Wolf or by a fixed factor: with tens of
 *                photos and 256+ dimensions the sample covariance is singular.
 * - knn:         cosine similarity of the L2-normalised features to the k-th nearest training
 *                feature. The bank is capped at `maxBank` vectors (stratified, seeded subsample),
 *                so it takes at most maxBank · featureDim · 4 bytes whatever the number of
 *                training photos: by default 16 MiB and at least 2048 vectors (knnDefaultMaxBank:
 *                16,384 vectors of PartsNet's 256 features, 2048 of ResNet50's 2048).
 *
 * A scorer's state is plain JSON params plus named float32 arrays, which ood-file.ts stores.
 */
import { makeRng, shuffled } from '@parts/data';
import { spdInverse } from './linalg';
import { NEGATED_SCORE, type ScoreDistance } from './threshold';

export const OOD_METHODS = ['msp', 'energy', 'mahalanobis', 'knn'] as const;
export type OodMethod = (typeof OOD_METHODS)[number];

/** Features and logits of n samples, row-major. */
export interface FeatureRows {
  features: Float32Array;
  logits: Float32Array;
  n: number;
  featureDim: number;
  numClasses: number;
}

export interface FitData extends FeatureRows {
  /** Class index per sample (0..numClasses-1). */
  labels: ArrayLike<number>;
}

export interface ScorerOptions {
  /** energy: temperature (default 1). */
  energyTemperature?: number;
  /** mahalanobis: 'ledoit-wolf' (default) or a fixed shrinkage in [0, 1] toward (trace/d)·I. */
  shrinkage?: 'ledoit-wolf' | number;
  /** knn: which neighbour (default 1: with ~20 photos per class a larger k reaches other classes). */
  k?: number;
  /** knn: most vectors kept in the bank (default knnDefaultMaxBank(featureDim): 16 MiB, at least 2048 vectors). */
  maxBank?: number;
  /** knn: seed of the bank's subsample (default 42). */
  seed?: number;
}

/** The fewest vectors the knn bank keeps by default, whatever the feature size. */
export const KNN_MIN_DEFAULT_BANK = 2048;
/**
 * The knn bank's default size in stored numbers (16 MiB of float32): the bank keeps up to
 * max(KNN_MIN_DEFAULT_BANK, this / featureDim) vectors, so a network with few features keeps more
 * training photos (PartsNet's 256: 16,384) while ResNet50's 2048 keep 2048 as before. A subsample
 * drops the near-copies that new photos of a large set find: on casting's 5,306 training photos the
 * 2048-vector bank accepted 292 of 325 known test photos at the validation split's 95% threshold,
 * the whole bank 306 (validation and test scores then agree: 5% quantiles 0.9958 and 0.9957).
 */
export const KNN_BANK_VALUES = 4 * 1024 * 1024;

/** The bank's default cap for features of `featureDim` numbers. */
export function knnDefaultMaxBank(featureDim: number): number {
  return Math.max(KNN_MIN_DEFAULT_BANK, Math.floor(KNN_BANK_VALUES / Math.max(1, featureDim)));
}

/**
 * The method a model gets unless told otherwise, per architecture (docs/ood.md has the study).
 * kNN (k = 1, cosine) on the penultimate features measured best for PartsNet in the
 * leave-classes-out study on bolts-nuts (4 rotations leaving 2 of 8 classes out, 12 epochs; known
 * test photos 42 per rotation vs 56 left-out photos and 44 far-OOD images): mean AUROC near / far
 * kNN 0.843 / 0.986, Mahalanobis 0.761 / 0.984, energy 0.571 / 0.157, MSP 0.588 / 0.153; at the
 * validation threshold for 95% known, kNN accepted 158/168 known and rejected 129/224 near and
 * 160/176 far. MSP and energy rank generated far-OOD images (noise, blank frames, ...) ABOVE real
 * photos of known parts (AUROC < 0.5), so they are no detector for these models. The pretrained bases were not measured here (no ImageNet weights offline); kNN on
 * `head_pool` features is the default for them too, as the method that needs no class-conditional
 * Gaussian assumption and no covariance of 512..2048 dimensions.
 */
export const DEFAULT_OOD_METHOD: Record<string, OodMethod> & { default: OodMethod } = {
  default: 'knn',
  partsnet: 'knn',
  tinyvgg: 'knn',
  vgg16: 'knn',
  resnet50: 'knn',
  inception: 'knn',
  efficientnet: 'knn',
};

/** The default OOD method of an architecture (registry name). */
export function defaultOodMethod(arch: string): OodMethod {
  return DEFAULT_OOD_METHOD[arch] ?? DEFAULT_OOD_METHOD.default;
}

/** Serializable state: JSON params and float32 arrays with shapes. */
export interface ScorerState {
  method: OodMethod;
  featureDim: number;
  numClasses: number;
  params: Record<string, number | string>;
  arrays: Record<string, { shape: number[]; data: Float32Array }>;
}

export interface OodScorer {
  readonly state: ScorerState;
  /** Score of one sample (features of length featureDim, logits of length numClasses). */
  score(features: Float32Array, logits: Float32Array): number;
  /** Scores of n samples. */
  scoreRows(rows: FeatureRows): Float64Array;
}

/**
 * The distance each method's score measures, on which chooseThreshold's small-sample bound takes
 * the spread as normal: kNN sqrt(1 − cosine similarity), the Euclidean distance between the unit
 * feature vectors over √2; Mahalanobis sqrt(−score), the Mahalanobis distance; MSP and energy minus
 * the score.
 */
export function scoreDistance(method: OodMethod): ScoreDistance {
  switch (method) {
    case 'knn':
      return { of: (s) => Math.sqrt(Math.max(0, 1 - s)), score: (d) => 1 - d * d, max: Math.SQRT2 };
    case 'mahalanobis':
      return { of: (s) => Math.sqrt(Math.max(0, -s)), score: (d) => -d * d };
    default:
      return NEGATED_SCORE;
  }
}

export function isOodMethod(m: unknown): m is OodMethod {
  return typeof m === 'string' && (OOD_METHODS as readonly string[]).includes(m);
}

export function logSumExp(z: ArrayLike<number>, t = 1): number {
  let m = -Infinity;
  for (let i = 0; i < z.length; i++) m = Math.max(m, z[i] / t);
  let s = 0;
  for (let i = 0; i < z.length; i++) s += Math.exp(z[i] / t - m);
  return m + Math.log(s);
}

/** Softmax of z / t in float64. */
export function softmax(z: ArrayLike<number>, t = 1): Float64Array {
  const lse = logSumExp(z, t);
  const p = new Float64Array(z.length);
  for (let i = 0; i < z.length; i++) p[i] = Math.exp(z[i] / t - lse);
  return p;
}

function checkRows(rows: FeatureRows, featureDim: number, numClasses: number): void {
  if (rows.featureDim !== featureDim) throw new Error(`features have ${rows.featureDim} dimensions, the scorer was fitted on ${featureDim}`);
  if (rows.numClasses !== numClasses) throw new Error(`logits have ${rows.numClasses} classes, the scorer was fitted on ${numClasses}`);
  if (rows.features.length !== rows.n * featureDim || rows.logits.length !== rows.n * numClasses) {
    throw new Error(`feature/logit arrays do not hold ${rows.n} rows of ${featureDim}/${numClasses}`);
  }
}

function makeScorer(state: ScorerState, one: (f: Float32Array, z: Float32Array) => number): OodScorer {
  const { featureDim: d, numClasses: c } = state;
  return {
    state,
    score(f, z) {
      if (f.length !== d) throw new Error(`features have ${f.length} dimensions, the ${state.method} scorer was fitted on ${d}`);
      if (z.length !== c) throw new Error(`logits have ${z.length} classes, the ${state.method} scorer was fitted on ${c}`);
      return one(f, z);
    },
    scoreRows(rows) {
      checkRows(rows, d, c);
      const out = new Float64Array(rows.n);
      for (let i = 0; i < rows.n; i++) out[i] = one(rows.features.subarray(i * d, (i + 1) * d), rows.logits.subarray(i * c, (i + 1) * c));
      return out;
    },
  };
}

/** Fits a scorer of `method` on training features/logits/labels. */
export function fitScorer(method: OodMethod, data: FitData, opts: ScorerOptions = {}): OodScorer {
  checkRows(data, data.featureDim, data.numClasses);
  if (data.labels.length !== data.n) throw new Error(`${data.labels.length} labels for ${data.n} samples`);
  const base = { method, featureDim: data.featureDim, numClasses: data.numClasses };
  switch (method) {
    case 'msp':
      return scorerFromState({ ...base, params: {}, arrays: {} });
    case 'energy':
      return scorerFromState({ ...base, params: { temperature: opts.energyTemperature ?? 1 }, arrays: {} });
    case 'mahalanobis':
      return scorerFromState(fitMahalanobis(data, opts.shrinkage ?? 'ledoit-wolf'));
    case 'knn':
      return scorerFromState(fitKnn(data, opts));
    default:
      throw new Error(`unknown OOD method ${JSON.stringify(method)}; expected one of ${OOD_METHODS.join(', ')}`);
  }
}

/** Rebuilds a scorer from its state (as read back from ood.json / ood.bin). */
export function scorerFromState(state: ScorerState): OodScorer {
  const d = state.featureDim;
  const need = (name: string, shape: number[]) => {
    const a = state.arrays[name];
    if (!a) throw new Error(`${state.method} scorer: missing array "${name}"`);
    const len = shape.reduce((p, x) => p * x, 1);
    if (a.data.length !== len || a.shape.join('x') !== shape.join('x')) {
      throw new Error(`${state.method} scorer: array "${name}" has shape [${a.shape}] (${a.data.length} values), expected [${shape}]`);
    }
    return a.data;
  };
  switch (state.method) {
    case 'msp':
      return makeScorer(state, (_f, z) => {
        const p = softmax(z);
        return Math.max(...p);
      });
    case 'energy': {
      const t = Number(state.params.temperature ?? 1);
      if (!(t > 0)) throw new Error(`energy scorer: temperature must be > 0 (got ${state.params.temperature})`);
      return makeScorer(state, (_f, z) => t * logSumExp(z, t));
    }
    case 'mahalanobis': {
      const c = state.numClasses;
      const means = Float64Array.from(need('means', [c, d]));
      const prec = Float64Array.from(need('precision', [d, d]));
      // d²_c = xᵀPx − 2 μ_cᵀ(Px) + μ_cᵀPμ_c, one d×d product per sample.
      const pMu = new Float64Array(c * d);
      const muPMu = new Float64Array(c);
      for (let k = 0; k < c; k++) {
        for (let i = 0; i < d; i++) {
          let s = 0;
          for (let j = 0; j < d; j++) s += prec[i * d + j] * means[k * d + j];
          pMu[k * d + i] = s;
          muPMu[k] += means[k * d + i] * s;
        }
      }
      const px = new Float64Array(d);
      return makeScorer(state, (f) => {
        let xpx = 0;
        for (let i = 0; i < d; i++) {
          let s = 0;
          const row = i * d;
          for (let j = 0; j < d; j++) s += prec[row + j] * f[j];
          px[i] = s;
          xpx += f[i] * s;
        }
        let best = Infinity;
        for (let k = 0; k < c; k++) {
          let cross = 0;
          for (let i = 0; i < d; i++) cross += means[k * d + i] * px[i];
          best = Math.min(best, xpx - 2 * cross + muPMu[k]);
        }
        return -Math.max(0, best);
      });
    }
    case 'knn': {
      const k = Number(state.params.k);
      const bank = state.arrays.bank;
      if (!bank) throw new Error('knn scorer: missing array "bank"');
      const m = bank.shape[0];
      need('bank', [m, d]);
      if (!Number.isInteger(k) || k < 1 || k > m) throw new Error(`knn scorer: k must be an integer in 1..${m} (got ${state.params.k})`);
      const sims = new Float64Array(m);
      return makeScorer(state, (f) => {
        const x = l2normalized(f);
        for (let r = 0; r < m; r++) {
          let s = 0;
          const o = r * d;
          for (let j = 0; j < d; j++) s += bank.data[o + j] * x[j];
          sims[r] = s;
        }
        return kthLargest(sims, k);
      });
    }
    default:
      throw new Error(`unknown OOD method ${JSON.stringify((state as ScorerState).method)}; expected one of ${OOD_METHODS.join(', ')}`);
  }
}

function l2normalized(f: ArrayLike<number>): Float64Array {
  let n = 0;
  for (let i = 0; i < f.length; i++) n += f[i] * f[i];
  const inv = n > 0 ? 1 / Math.sqrt(n) : 0;
  const out = new Float64Array(f.length);
  for (let i = 0; i < f.length; i++) out[i] = f[i] * inv;
  return out;
}

function kthLargest(a: Float64Array, k: number): number {
  if (k === 1) {
    let m = -Infinity;
    for (let i = 0; i < a.length; i++) if (a[i] > m) m = a[i];
    return m;
  }
  return Float64Array.from(a).sort((x, y) => y - x)[k - 1];
}

/** Class means and one shrunk, pooled within-class covariance; stores means and its inverse. */
function fitMahalanobis(data: FitData, shrinkage: 'ledoit-wolf' | number): ScorerState {
  const { n, featureDim: d, numClasses: c, features: f, labels } = data;
  const means = new Float64Array(c * d);
  const counts = new Float64Array(c);
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0 || y >= c) throw new Error(`label ${y} of sample ${i} is outside 0..${c - 1}`);
    counts[y]++;
    for (let j = 0; j < d; j++) means[y * d + j] += f[i * d + j];
  }
  for (let y = 0; y < c; y++) {
    if (!counts[y]) throw new Error(`mahalanobis: class ${y} has no training sample`);
    for (let j = 0; j < d; j++) means[y * d + j] /= counts[y];
  }
  // Centered rows.
  const x = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] = f[i * d + j] - means[labels[i] * d + j];
  const s = new Float64Array(d * d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    for (let a = 0; a < d; a++) {
      const xa = x[o + a];
      if (xa === 0) continue;
      for (let b = a; b < d; b++) s[a * d + b] += xa * x[o + b];
    }
  }
  for (let a = 0; a < d; a++) for (let b = a; b < d; b++) {
    s[a * d + b] /= n;
    s[b * d + a] = s[a * d + b];
  }
  let trace = 0;
  for (let a = 0; a < d; a++) trace += s[a * d + a];
  const mu = trace / d || 1e-12;
  let alpha: number;
  if (shrinkage === 'ledoit-wolf') alpha = ledoitWolfShrinkage(x, s, n, d, mu);
  else {
    if (!(shrinkage >= 0 && shrinkage <= 1)) throw new Error(`mahalanobis: shrinkage must be in [0, 1] or 'ledoit-wolf' (got ${shrinkage})`);
    alpha = shrinkage;
  }
  const sigma = new Float64Array(d * d);
  for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) sigma[a * d + b] = (1 - alpha) * s[a * d + b] + (a === b ? alpha * mu : 0);
  const prec = spdInverse(sigma, d);
  return {
    method: 'mahalanobis',
    featureDim: d,
    numClasses: c,
    params: { shrinkage: alpha, shrinkageRule: shrinkage === 'ledoit-wolf' ? 'ledoit-wolf' : 'fixed' },
    arrays: { means: { shape: [c, d], data: Float32Array.from(means) }, precision: { shape: [d, d], data: Float32Array.from(prec) } },
  };
}

/**
 * Ledoit-Wolf (2004) shrinkage intensity toward mu·I for the sample covariance s of the centered
 * rows x: min(1, β̄/δ) with δ = ‖S − μI‖²_F and β̄ = (1/n²) Σ_i ‖x_i x_iᵀ − S‖²_F.
 */
export function ledoitWolfShrinkage(x: Float64Array, s: Float64Array, n: number, d: number, mu: number): number {
  let delta = 0;
  let sNorm2 = 0;
  for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) {
    const v = s[a * d + b];
    sNorm2 += v * v;
    const t = v - (a === b ? mu : 0);
    delta += t * t;
  }
  let beta = 0;
  const sx = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let norm2 = 0;
    let xsx = 0;
    for (let a = 0; a < d; a++) {
      norm2 += x[o + a] * x[o + a];
      let t = 0;
      for (let b = 0; b < d; b++) t += s[a * d + b] * x[o + b];
      sx[a] = t;
    }
    for (let a = 0; a < d; a++) xsx += x[o + a] * sx[a];
    beta += norm2 * norm2 - 2 * xsx + sNorm2;
  }
  beta /= n * n;
  if (!(delta > 0)) return 1;
  return Math.min(1, Math.max(0, Math.min(beta, delta) / delta));
}

/** Normalised training features, stratified seeded subsample of at most maxBank rows. */
function fitKnn(data: FitData, opts: ScorerOptions): ScorerState {
  const { n, featureDim: d, numClasses: c } = data;
  const maxBank = opts.maxBank ?? knnDefaultMaxBank(d);
  const k = opts.k ?? 1;
  if (!Number.isInteger(maxBank) || maxBank < 1) throw new Error(`knn: maxBank must be an integer >= 1 (got ${maxBank})`);
  let rows = Array.from({ length: n }, (_, i) => i);
  if (n > maxBank) {
    const rng = makeRng(`ood-knn-bank:${opts.seed ?? 42}`);
    const byClass: number[][] = Array.from({ length: c }, () => []);
    rows.forEach((i) => byClass[data.labels[i]].push(i));
    // Each class keeps floor(its share of maxBank), at least 1 vector; the total never exceeds maxBank.
    rows = byClass.flatMap((idx) => shuffled(idx, rng).slice(0, Math.max(1, Math.floor((maxBank * idx.length) / n))));
    rows = rows.slice(0, maxBank).sort((a, b) => a - b);
  }
  if (!Number.isInteger(k) || k < 1 || k > rows.length) throw new Error(`knn: k must be an integer in 1..${rows.length} (got ${k})`);
  const bank = new Float32Array(rows.length * d);
  rows.forEach((i, r) => bank.set(l2normalized(data.features.subarray(i * d, (i + 1) * d)), r * d));
  return { method: 'knn', featureDim: d, numClasses: c, params: { k, maxBank }, arrays: { bank: { shape: [rows.length, d], data: bank } } };
}
