// "How many photos do I need?": accuracy against photos per class. The same recipe is trained on
// seeded, stratified, nested subsets of the train split (10, 25, 50, 100 photos per class and all of
// them) and every model is scored on the same test photos. An inverse power law fitted to the points
// projects the accuracy at twice the photos. Subsets are nested (the 25-photo set holds the 10-photo
// set) so that the points differ by the added photos, not by which photos happened to be drawn.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listDataset, makeRng, shuffled, type DatasetIndex, type Sample } from '@parts/data';
import type { TrainOptions, TrainResult } from '@parts/train';
import { wilsonInterval, type Interval } from './metrics';

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Photos per class trained on by default; the whole train split is added as a last point. */
export const DEFAULT_CURVE_SIZES: readonly number[] = [10, 25, 50, 100];

/** "10,25,50" → [10, 25, 50]; an error names the flag and the bad entry. */
export function parseCurveSizes(text: string, flag = '--curve-sizes'): number[] {
  const parts = text.split(',').map((t) => t.trim()).filter(Boolean);
  if (parts.length === 0) throw new RangeError(`${flag} must list photos per class, e.g. 10,25,50,100 (got '${text}')`);
  return parts.map((t) => {
    const n = Number(t);
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`${flag}: '${t}' is not a whole number of photos per class >= 1`);
    return n;
  });
}

export interface CurveSubset {
  /** Requested photos per class; null for the whole train split. */
  requested: number | null;
  /** Photos actually taken per class (indexed like the dataset's classes): min(requested, class size). */
  perClass: number[];
  samples: Sample[];
}

/**
 * Nested stratified subsets of `train`, a pure function of (train, seed): each class's photos are
 * sorted by path, shuffled with a stream keyed by seed and class, and every subset takes a prefix of
 * that order. Sizes are sorted and de-duplicated; a size at or above every class's count is the
 * whole split, given once (with `includeAll`, the whole split is always the last subset).
 */
export function nestedSubsets(
  train: readonly Sample[],
  classes: readonly string[],
  sizes: readonly number[],
  seed: number,
  opts: { includeAll?: boolean } = {},
): CurveSubset[] {
  for (const n of sizes) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`learning-curve sizes must be whole numbers of photos per class >= 1, got ${n}`);
  }
  const orders = classes.map((cls, label) => {
    const own = train.filter((s) => s.label === label).sort((a, b) => byCodeUnit(a.file, b.file));
    if (own.length === 0) throw new Error(`learning curve: class ${cls} has no training photos`);
    return shuffled(own, makeRng(`${seed}:learning-curve:${cls}`));
  });
  const largest = Math.max(...orders.map((o) => o.length));
  const wanted: (number | null)[] = [...new Set(sizes)].sort((a, b) => a - b).map((n) => (n >= largest ? null : n));
  if (opts.includeAll) wanted.push(null);
  const out: CurveSubset[] = [];
  for (const requested of wanted) {
    if (requested === null && out.some((s) => s.requested === null)) continue;
    const perClass = orders.map((o) => (requested === null ? o.length : Math.min(requested, o.length)));
    out.push({ requested, perClass, samples: orders.flatMap((o, label) => o.slice(0, perClass[label])) });
  }
  return out;
}

/** acc(n) = a − b·n^(−c), n = photos per class. */
export interface PowerLawFit {
  a: number;
  b: number;
  c: number;
  /** Root mean squared residual of the fitted points (accuracy, 0-1). */
  rmse: number;
  method: string;
}

export const FIT_METHOD =
  'inverse power law acc = a − b·n^(−c) by least squares: for each exponent c (grid 0.01-3 in steps of 0.01, then golden-section refinement) a and b are solved in closed form (linear least squares in n^(−c), b >= 0, a <= 1), and the c with the smallest squared error is kept';

const C_MIN = 0.01;
const C_MAX = 3;

/** Least-squares a, b for a fixed c (b >= 0: accuracy that falls with more photos fits as flat; a <= 1). */
function solveForC(ns: readonly number[], ys: readonly number[], c: number): { a: number; b: number; sse: number } {
  const xs = ns.map((n) => n ** -c);
  const m = xs.length;
  const mx = xs.reduce((s, x) => s + x, 0) / m;
  const my = ys.reduce((s, y) => s + y, 0) / m;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < m; i++) {
    sxx += (xs[i] - mx) ** 2;
    sxy += (xs[i] - mx) * (ys[i] - my);
  }
  // acc = a + slope·x with slope = −b.
  let slope = sxx > 0 ? sxy / sxx : 0;
  if (slope > 0) slope = 0;
  let a = my - slope * mx;
  if (a > 1) {
    // No accuracy above 100%: with a = 1, least squares of 1 − acc = b·x.
    a = 1;
    const sx2 = xs.reduce((t, x) => t + x * x, 0);
    slope = -Math.max(0, xs.reduce((t, x, i) => t + x * (1 - ys[i]), 0) / sx2);
  }
  const sse = xs.reduce((s, x, i) => s + (a + slope * x - ys[i]) ** 2, 0);
  return { a, b: slope === 0 ? 0 : -slope, sse };
}

/** Fits acc = a − b·n^(−c) to (photos per class, accuracy) points; see FIT_METHOD. Needs 3 distinct n. */
export function fitInversePowerLaw(points: readonly { n: number; accuracy: number }[]): PowerLawFit {
  for (const p of points) {
    if (!(p.n > 0) || !Number.isFinite(p.n)) throw new RangeError(`learning-curve fit: photos per class must be > 0, got ${p.n}`);
    if (!(p.accuracy >= 0 && p.accuracy <= 1)) throw new RangeError(`learning-curve fit: accuracy must be in [0, 1], got ${p.accuracy}`);
  }
  if (new Set(points.map((p) => p.n)).size < 3) throw new RangeError(`learning-curve fit needs at least 3 different sizes, got ${new Set(points.map((p) => p.n)).size}`);
  const ns = points.map((p) => p.n);
  const ys = points.map((p) => p.accuracy);
  const sse = (c: number) => solveForC(ns, ys, c).sse;
  let best = C_MIN;
  for (let c = C_MIN; c <= C_MAX + 1e-9; c += 0.01) if (sse(c) < sse(best)) best = c;
  // Golden-section search in the grid cell around the best grid point.
  let lo = Math.max(C_MIN, best - 0.01);
  let hi = Math.min(C_MAX, best + 0.01);
  const g = (Math.sqrt(5) - 1) / 2;
  for (let i = 0; i < 40; i++) {
    const x1 = hi - g * (hi - lo);
    const x2 = lo + g * (hi - lo);
    if (sse(x1) <= sse(x2)) hi = x2;
    else lo = x1;
  }
  const c = sse((lo + hi) / 2) <= sse(best) ? (lo + hi) / 2 : best;
  const { a, b, sse: e } = solveForC(ns, ys, c);
  return { a, b, c, rmse: Math.sqrt(e / points.length), method: FIT_METHOD };
}

/** The fitted accuracy at n photos per class, clipped to [0, 1]. */
export function projectAccuracy(fit: PowerLawFit, n: number): number {
  return Math.min(1, Math.max(0, fit.a - fit.b * n ** -fit.c));
}

export interface CurvePoint {
  /** Requested photos per class; null = the whole train split. */
  requested: number | null;
  perClass: number[];
  /** Mean photos per class (the curve's x). */
  n: number;
  trainPhotos: number;
  correct: number;
  total: number;
  accuracy: number;
  interval: Interval;
  trainSeconds: number;
  runDir: string;
}

export interface LearningCurveResult {
  data: string;
  seed: number;
  classes: string[];
  testPhotos: number;
  points: CurvePoint[];
  /** Null when fewer than 3 points (or the fit failed). */
  fit: PowerLawFit | null;
  /** Photos per class at which the projection is made (twice the largest point) and its accuracy. */
  projection: { n: number; accuracy: number } | null;
  totalSeconds: number;
}

export interface LearningCurveOptions {
  data: string;
  sizes?: readonly number[];
  /** Add the whole train split as a point (default true). */
  includeAll?: boolean;
  seed?: number;
  /** Parent folder of the run folders. */
  out: string;
  /** Passed to every train() call (recipe, epochs, backend…). */
  trainOverrides?: Partial<TrainOptions>;
  log?: (msg: string) => void;
  /** Injected for tests; default train() from @parts/train. */
  train?: (o: TrainOptions) => Promise<TrainResult>;
}

async function linkSubsetDataset(dir: string, index: DatasetIndex, train: readonly Sample[]): Promise<void> {
  const place = async (split: 'train' | 'test', s: Sample) => {
    const target = path.join(dir, split, index.classes[s.label], path.basename(s.file));
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.symlink(s.file, target);
  };
  for (const s of train) await place('train', s);
  for (const s of index.splits.test) await place('test', s);
}

/**
 * Trains the recipe once per subset (see nestedSubsets) and scores each model on the dataset's test
 * split. Each subset is a temporary folder of links to the original photos (train: the subset;
 * test: every test photo), removed afterwards; the runs are kept under `out`.
 */
export async function runLearningCurve(o: LearningCurveOptions): Promise<LearningCurveResult> {
  const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const trainFn = o.train ?? (await import('@parts/train')).train;
  const seed = o.seed ?? 42;
  const t0 = Date.now();
  const index = await listDataset(o.data);
  if (index.splitSource.test !== 'folder') throw new Error(`learning curve: ${path.join(index.root, 'test')} is missing; the curve scores every subset on the same test folder`);
  const subsets = nestedSubsets(index.splits.train, index.classes, o.sizes ?? DEFAULT_CURVE_SIZES, seed, { includeAll: o.includeAll ?? true });
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'parts-learning-curve-'));
  const points: CurvePoint[] = [];
  try {
    for (const [i, sub] of subsets.entries()) {
      const label = sub.requested === null ? 'all' : String(sub.requested);
      const dir = path.join(work, label);
      await linkSubsetDataset(dir, index, sub.samples);
      const started = Date.now();
      log(`[${i + 1}/${subsets.length}] ${label} photos per class (${sub.samples.length} photos): training…`);
      const r = await trainFn({ ...o.trainOverrides, data: dir, seed, out: o.out, name: `curve-${label}`, quiet: o.trainOverrides?.quiet ?? true });
      const test = r.metrics.test;
      if (!test) throw new Error(`learning curve: the run for ${label} photos per class has no test accuracy (${r.runDir})`);
      const trainSeconds = (Date.now() - started) / 1000;
      const n = sub.perClass.reduce((s, k) => s + k, 0) / sub.perClass.length;
      points.push({
        requested: sub.requested,
        perClass: sub.perClass,
        n,
        trainPhotos: sub.samples.length,
        correct: test.correct,
        total: test.n,
        accuracy: test.correct / test.n,
        interval: wilsonInterval(test.correct, test.n),
        trainSeconds,
        runDir: r.runDir,
      });
      log(`[${i + 1}/${subsets.length}] ${label}: ${test.correct}/${test.n} = ${((100 * test.correct) / test.n).toFixed(1)}% in ${trainSeconds.toFixed(1)}s`);
      await fs.rm(dir, { recursive: true, force: true });
    }
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
  const { fit, projection } = fitAndProject(points);
  return { data: index.root, seed, classes: index.classes, testPhotos: index.splits.test.length, points, fit, projection, totalSeconds: (Date.now() - t0) / 1000 };
}

/** The power-law fit of the points and its accuracy at twice the largest photos per class. */
export function fitAndProject(points: readonly Pick<CurvePoint, 'n' | 'accuracy'>[]): Pick<LearningCurveResult, 'fit' | 'projection'> {
  if (new Set(points.map((p) => p.n)).size < 3) return { fit: null, projection: null };
  const fit = fitInversePowerLaw(points);
  const n = 2 * Math.max(...points.map((p) => p.n));
  return { fit, projection: { n, accuracy: projectAccuracy(fit, n) } };
}
