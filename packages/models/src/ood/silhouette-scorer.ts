/**
 * The silhouette part of a detector: a model-independent second opinion on whether a photo shows a
 * part like the training parts, from the shape of its main dark object (@parts/data
 * measureSilhouette: size in the frame, elongation, hole, extent, contrast, clutter, paper level).
 *
 * Scorer: the shape vectors of the training photos, each feature standardised by its training
 * mean and standard deviation (floored at SCALE_FLOOR, so that a feature constant in training —
 * no holes in any bolt — does not turn a tiny change into an infinite distance); score = minus the
 * Euclidean distance to the k-th nearest training vector (higher = more like training). A photo
 * without an object scores -Infinity (always rejected).
 *
 * Threshold: at `acceptRate` of the leave-one-out scores of the training vectors together with the
 * validation photos' scores (the shape needs no trained model, so every training photo can be
 * scored against the others without bias).
 *
 * Used only when the fit photos have consistent silhouettes (segmentationProblem): on photos with
 * cluttered backgrounds, where no single dark object stands out, the part is left out and the
 * detector keeps its feature scorer alone.
 */
import {
  makeRng,
  measureSilhouette,
  shuffled,
  silhouetteVector,
  SILHOUETTE_DEFAULTS,
  SILHOUETTE_FEATURES,
  type RawImage,
  type SilhouetteFeature,
  type SilhouetteOptions,
  type SilhouetteShape,
} from '@parts/data';
import { chooseThreshold, type ThresholdChoice } from './threshold';
import { DEFAULT_ACCEPT_RATE } from '@parts/cli';

/** Smallest per-feature scale (standard units of the raw features: logs, fractions). */
export const SILHOUETTE_SCALE_FLOOR = 0.05;
/** Most training vectors kept in the bank (seeded subsample above it). */
export const SILHOUETTE_MAX_BANK = 2048;
/** Fit photos that must contain an object for the part to be used. */
export const SILHOUETTE_MIN_FOUND = 0.9;
/** Largest median clutter (dark pixels outside the object / object pixels) of the fit photos. */
export const SILHOUETTE_MAX_MEDIAN_CLUTTER = 0.5;
/** Largest median object area / frame area of the fit photos (above it the "object" is the scene). */
export const SILHOUETTE_MAX_MEDIAN_AREA = 0.5;
/** Fewest fit photos with an object. */
export const SILHOUETTE_MIN_PHOTOS = 5;
/**
 * Largest share of fit photos whose object touches the frame's edge. A part photographed on paper
 * lies inside the frame (parts 3%, bolts-nuts 0% of the training photos at 128 px); on textures the
 * largest dark region is a patch of the surface and runs off the frame (neu 84%, casting 64%).
 */
export const SILHOUETTE_MAX_EDGE_SHARE = 0.5;

export interface SilhouetteScorerState {
  k: number;
  /** Segmentation options, so that every photo is measured as the fit photos were. */
  options: Required<SilhouetteOptions>;
  /** The shape features scored, in column order (default SILHOUETTE_FEATURES). */
  features?: readonly SilhouetteFeature[];
  mean: Float32Array;
  scale: Float32Array;
  /** Standardised training vectors, row-major [n, features.length]. */
  bank: Float32Array;
}

export interface SilhouetteScorer {
  readonly state: SilhouetteScorerState;
  /** Score of a measured shape (null: no object → -Infinity). */
  score(shape: SilhouetteShape | null): number;
  /** Measures `img` with the stored options and scores it. */
  measure(img: RawImage): SilhouetteShape | null;
}

/** The fitted part as a detector holds it. */
export interface SilhouettePart {
  scorer: SilhouetteScorer;
  /** Accept when score >= threshold. */
  threshold: number;
  /** Share of known photos this part alone is set to accept (chooseThreshold on its threshold photos). */
  acceptRate: number;
  /** Photos the bank holds, photos the threshold saw (leave-one-out training + validation), share of fit photos with an object. */
  fittedOn: { n: number; thresholdN: number; found: number; thresholdRule?: ThresholdChoice['rule']; thresholdGroups?: number; reason?: string };
}

export function silhouetteScorerFromState(st: SilhouetteScorerState): SilhouetteScorer {
  const features = st.features ?? SILHOUETTE_FEATURES;
  const DIM = features.length;
  if (DIM < 1) throw new Error('silhouette scorer: no features');
  if (!(Number.isInteger(st.k) && st.k >= 1)) throw new Error(`silhouette scorer: k must be an integer >= 1 (got ${st.k})`);
  if (st.mean.length !== DIM || st.scale.length !== DIM) throw new Error(`silhouette scorer: mean/scale must have ${DIM} values (got ${st.mean.length}/${st.scale.length})`);
  if (!st.scale.every((s) => s > 0)) throw new Error('silhouette scorer: every scale must be > 0');
  if (st.bank.length % DIM !== 0 || st.bank.length / DIM < st.k) throw new Error(`silhouette scorer: the bank must hold at least k = ${st.k} rows of ${DIM} values (got ${st.bank.length} values)`);
  const n = st.bank.length / DIM;
  const kth = new Float64Array(st.k);
  const score = (shape: SilhouetteShape | null): number => {
    if (!shape) return -Infinity;
    const v = silhouetteVector(shape, features);
    const z = v.map((x, j) => (x - st.mean[j]) / st.scale[j]);
    if (!z.every(Number.isFinite)) return -Infinity;
    // The k smallest squared distances (k is small).
    kth.fill(Infinity);
    for (let i = 0; i < n; i++) {
      let d = 0;
      for (let j = 0; j < DIM; j++) d += (st.bank[i * DIM + j] - z[j]) ** 2;
      if (d < kth[st.k - 1]) {
        let p = st.k - 1;
        while (p > 0 && kth[p - 1] > d) {
          kth[p] = kth[p - 1];
          p--;
        }
        kth[p] = d;
      }
    }
    return -Math.sqrt(kth[st.k - 1]);
  };
  return { state: { ...st, features }, score, measure: (img) => measureSilhouette(img, st.options).shape };
}

/** Why the part applies to fit photos that passed segmentationProblem: the evidence, in words. */
export function silhouetteEvidence(shapes: readonly (SilhouetteShape | null)[]): string {
  const found = shapes.filter((s): s is SilhouetteShape => s !== null);
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const edge = found.filter((s) => s.touchesEdge).length / Math.max(1, found.length);
  return (
    `${found.length} of ${shapes.length} fit photos show one dark object on a lighter background, ` +
    `inside the frame in ${(100 * (1 - edge)).toFixed(0)}% (limit ${100 * (1 - SILHOUETTE_MAX_EDGE_SHARE)}%), ` +
    `median ${(100 * median(found.map((s) => s.areaFraction))).toFixed(1)}% of the frame, clutter ${median(found.map((s) => s.clutter)).toFixed(2)}`
  );
}

/** Why the fit photos' silhouettes cannot be used, or null when they can. */
export function segmentationProblem(shapes: readonly (SilhouetteShape | null)[]): string | null {
  const found = shapes.filter((s): s is SilhouetteShape => s !== null);
  if (found.length < SILHOUETTE_MIN_PHOTOS) return `only ${found.length} of ${shapes.length} fit photos show a dark object on a light background (need ${SILHOUETTE_MIN_PHOTOS})`;
  if (found.length < SILHOUETTE_MIN_FOUND * shapes.length) {
    return `only ${found.length} of ${shapes.length} fit photos show a dark object on a light background (need ${Math.round(100 * SILHOUETTE_MIN_FOUND)}%)`;
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const clutter = median(found.map((s) => s.clutter));
  if (clutter > SILHOUETTE_MAX_MEDIAN_CLUTTER) {
    return `the fit photos are cluttered: median ${clutter.toFixed(2)} dark pixels outside the main object per object pixel (limit ${SILHOUETTE_MAX_MEDIAN_CLUTTER})`;
  }
  const area = median(found.map((s) => s.areaFraction));
  if (area > SILHOUETTE_MAX_MEDIAN_AREA) {
    return `the dark "object" fills most of the fit photos (median ${(100 * area).toFixed(0)}% of the frame, limit ${100 * SILHOUETTE_MAX_MEDIAN_AREA}%): no part on a light background`;
  }
  const edge = found.filter((s) => s.touchesEdge).length / found.length;
  if (edge > SILHOUETTE_MAX_EDGE_SHARE) {
    return `the largest dark region runs off the frame in ${(100 * edge).toFixed(0)}% of the fit photos (limit ${100 * SILHOUETTE_MAX_EDGE_SHARE}%): a texture or a close-up, no main object on a background`;
  }
  return null;
}

export interface FitSilhouetteOptions {
  /** Share of known photos this part accepts (default DEFAULT_ACCEPT_RATE). */
  acceptRate?: number;
  k?: number;
  options?: SilhouetteOptions;
  seed?: number;
  /**
   * Near-duplicate group of each training shape (train order). The threshold's training scores are
   * then leave-group-out: a photo is scored against the training photos outside its group, as a
   * new photo would be, not against its own near-copies.
   */
  trainGroups?: readonly number[];
  /** Near-duplicate group of each validation shape: the threshold's confidence bound counts groups (chooseThreshold's `units`). */
  valGroups?: readonly number[];
}

/**
 * Fits the silhouette part on the shapes of the training and validation photos (measured with
 * `opts.options`, as `measure` will measure new photos). Returns the reason instead when the
 * photos' silhouettes are not consistent enough to use (segmentationProblem).
 */
export function fitSilhouettePart(
  train: readonly (SilhouetteShape | null)[],
  val: readonly (SilhouetteShape | null)[],
  opts: FitSilhouetteOptions = {},
): { part: SilhouettePart; problem: null } | { part: null; problem: string } {
  const problem = segmentationProblem([...train, ...val]);
  if (problem) return { part: null, problem };
  const k = opts.k ?? 1;
  const options = { ...SILHOUETTE_DEFAULTS, ...opts.options };
  if (opts.trainGroups && opts.trainGroups.length !== train.length) throw new Error(`fitSilhouettePart: ${opts.trainGroups.length} groups for ${train.length} training shapes`);
  if (opts.valGroups && opts.valGroups.length !== val.length) throw new Error(`fitSilhouettePart: ${opts.valGroups.length} groups for ${val.length} validation shapes`);
  const features = SILHOUETTE_FEATURES;
  const DIM = features.length;
  let rowsIn = train.flatMap((s, i) => (s ? [{ v: silhouetteVector(s, features), g: opts.trainGroups?.[i] ?? -1 - i }] : []));
  if (rowsIn.length <= k) return { part: null, problem: `only ${rowsIn.length} training photos show an object; the scorer needs more than k = ${k}` };
  if (rowsIn.length > SILHOUETTE_MAX_BANK) rowsIn = shuffled(rowsIn, makeRng(`silhouette-bank:${opts.seed ?? 42}`)).slice(0, SILHOUETTE_MAX_BANK);
  const vecs = rowsIn.map((r) => r.v);
  const group = rowsIn.map((r) => r.g);
  const n = vecs.length;
  const mean = new Float32Array(DIM);
  const scale = new Float32Array(DIM);
  for (let j = 0; j < DIM; j++) {
    const m = vecs.reduce((s, v) => s + v[j], 0) / n;
    const sd = Math.sqrt(vecs.reduce((s, v) => s + (v[j] - m) ** 2, 0) / (n - 1));
    mean[j] = m;
    scale[j] = Math.max(SILHOUETTE_SCALE_FLOOR, sd);
  }
  const bank = new Float32Array(n * DIM);
  vecs.forEach((v, i) => v.forEach((x, j) => (bank[i * DIM + j] = (x - mean[j]) / scale[j])));
  const scorer = silhouetteScorerFromState({ k, options, features, mean, scale, bank });
  // Leave-one-out (leave-group-out with trainGroups): each training vector against the others.
  const loo: number[] = [];
  const looGroups = new Set<number>();
  for (let i = 0; i < n; i++) {
    const ds: number[] = [];
    for (let r = 0; r < n; r++) {
      if (r === i || group[r] === group[i]) continue;
      let d = 0;
      for (let j = 0; j < DIM; j++) d += (bank[r * DIM + j] - bank[i * DIM + j]) ** 2;
      ds.push(Math.sqrt(d));
    }
    ds.sort((a, b) => a - b);
    // A group holding (nearly) every photo leaves fewer than k others: that photo adds no score.
    if (ds.length >= k) {
      loo.push(-ds[k - 1]);
      looGroups.add(group[i]);
    }
  }
  // Validation photos without an object are rejected by any threshold; the threshold is set on
  // the photos that have one (segmentationProblem bounds how many lack one).
  const valAll = val.map((s) => scorer.score(s));
  const valScores = valAll.filter(Number.isFinite);
  const valUnits = opts.valGroups ? new Set(opts.valGroups.filter((_, i) => Number.isFinite(valAll[i]))).size : valScores.length;
  const acceptRate = opts.acceptRate ?? DEFAULT_ACCEPT_RATE;
  // Scores are minus the shape distance, the default distance of chooseThreshold; the confidence
  // bound counts photos (groups), not scores. Below its reach the quantile rules (chooseThreshold's
  // 'prediction bound'): a tolerance bound on these skewed distances let more unknown shapes through.
  const units = looGroups.size + valUnits;
  const thresholdN = loo.length + valScores.length;
  const { threshold, rule } = chooseThreshold([...loo, ...valScores], acceptRate, { units, smallSample: 'prediction bound' });
  const all = train.length + val.length;
  const found = (train.filter(Boolean).length + val.filter(Boolean).length) / all;
  const reason = silhouetteEvidence([...train, ...val]);
  return { part: { scorer, threshold, acceptRate, fittedOn: { n, thresholdN, found, thresholdRule: rule, ...(units < thresholdN ? { thresholdGroups: units } : {}), reason } }, problem: null };
}

/** Silhouette shapes of images, measured with `options` (one entry per image; null = no object). */
export function measureShapes(images: readonly RawImage[], options?: SilhouetteOptions): (SilhouetteShape | null)[] {
  return images.map((im) => measureSilhouette(im, options).shape);
}
