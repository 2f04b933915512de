// Stratified K-fold assignment of the training samples (cross-validation).
import { makeRng, shuffled, type DatasetIndex, type Sample } from '@parts/data';

/** Which fold a training run validates on: fold k (1-based) of `folds`. */
export interface FoldSpec {
  k: number;
  folds: number;
}

/**
 * Splits samples into `folds` stratified folds. Each class is shuffled by its own seeded stream
 * (keyed by seed and class name, like listDataset's splits) and dealt round-robin; the deal continues
 * where the previous class stopped, so fold sizes differ by at most one overall and per class.
 * Every class needs at least `folds` samples: otherwise some training fold would lack the class.
 */
export function stratifiedFolds(samples: readonly Sample[], classes: readonly string[], folds: number, seed: number | string): Sample[][] {
  if (!Number.isInteger(folds) || folds < 2) throw new RangeError(`folds must be an integer >= 2 (got ${folds})`);
  const unknown = samples.find((s) => !Number.isInteger(s.label) || s.label < 0 || s.label >= classes.length);
  if (unknown) throw new RangeError(`sample ${unknown.file} has label ${unknown.label}, not a class index in 0..${classes.length - 1}`);
  const out: Sample[][] = Array.from({ length: folds }, () => []);
  let next = 0;
  classes.forEach((cls, label) => {
    const own = samples.filter((s) => s.label === label);
    if (own.length < folds) {
      throw new RangeError(`${folds} folds need at least ${folds} training images per class; class '${cls}' has ${own.length}`);
    }
    for (const s of shuffled(own, makeRng(`${seed}:folds:${cls}`))) {
      out[next].push(s);
      next = (next + 1) % folds;
    }
  });
  const order = (a: Sample, b: Sample) => a.label - b.label || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0);
  return out.map((f) => f.sort(order));
}

/**
 * The index a fold run trains on: train = the other folds of the train split, val = fold k, and no
 * test split, so a fold run can never report (or be selected on) test accuracy. A val folder on disk
 * is not used: cross-validation draws only from the train split.
 */
export function applyFold(index: DatasetIndex, fold: FoldSpec, seed: number | string): DatasetIndex {
  checkFold(fold);
  const parts = stratifiedFolds(index.splits.train, index.classes, fold.folds, seed);
  return {
    ...index,
    splits: { train: parts.filter((_, i) => i !== fold.k - 1).flat(), val: parts[fold.k - 1], test: [] },
    splitSource: { train: index.splitSource.train, val: 'generated', test: 'none' },
  };
}

export function checkFold(fold: FoldSpec): void {
  if (!Number.isInteger(fold.folds) || fold.folds < 2) throw new RangeError(`fold.folds must be an integer >= 2 (got ${fold.folds})`);
  if (!Number.isInteger(fold.k) || fold.k < 1 || fold.k > fold.folds) {
    throw new RangeError(`fold.k must be an integer in 1..${fold.folds} (got ${fold.k})`);
  }
}
