// Stratified K-fold assignment of the training samples (cross-validation).
import { countGroups, makeRng, shuffled, type DatasetIndex, type Sample } from '@parts/data';

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
 *
 * With `groupOf` (file -> near-duplicate group, see @parts/data nearDuplicateGroups) whole groups
 * are dealt instead of photos: each class's groups, shuffled by the same kind of seeded stream, go
 * one by one to the fold holding the fewest of that class's photos so far (ties: the fold after the
 * last one dealt to), so no fold validates on a near-copy of a photo it trained on. Every class then
 * needs at least `folds` groups.
 */
export function stratifiedFolds(
  samples: readonly Sample[],
  classes: readonly string[],
  folds: number,
  seed: number | string,
  groupOf?: ReadonlyMap<string, number>,
): Sample[][] {
  if (!Number.isInteger(folds) || folds < 2) throw new RangeError(`folds must be an integer >= 2 (got ${folds})`);
  const unknown = samples.find((s) => !Number.isInteger(s.label) || s.label < 0 || s.label >= classes.length);
  if (unknown) throw new RangeError(`sample ${unknown.file} has label ${unknown.label}, not a class index in 0..${classes.length - 1}`);
  const out: Sample[][] = Array.from({ length: folds }, () => []);
  let next = 0;
  classes.forEach((cls, label) => {
    const own = samples.filter((s) => s.label === label);
    if (groupOf) {
      next = dealGroups(own, cls, folds, seed, groupOf, out, next);
      return;
    }
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

/** Deals one class's near-duplicate groups into `out` (see stratifiedFolds); returns the next fold to start from. */
function dealGroups(own: Sample[], cls: string, folds: number, seed: number | string, groupOf: ReadonlyMap<string, number>, out: Sample[][], start: number): number {
  const byGroup = new Map<number, Sample[]>();
  for (const s of own) {
    const g = groupOf.get(s.file);
    if (g === undefined) throw new Error(`folds: ${s.file} has no near-duplicate group`);
    byGroup.set(g, [...(byGroup.get(g) ?? []), s]);
  }
  if (byGroup.size < folds) {
    throw new RangeError(`${folds} folds need at least ${folds} near-duplicate groups per class; class '${cls}' has ${byGroup.size} (${own.length} photos)`);
  }
  // A fixed order (by first file) before the seeded shuffle: independent of how groups were numbered.
  const groups = [...byGroup.values()].sort((a, b) => (minFile(a) < minFile(b) ? -1 : 1));
  const count = new Array<number>(folds).fill(0);
  let next = start;
  for (const g of shuffled(groups, makeRng(`${seed}:folds:groups:${cls}`))) {
    let best = next;
    for (let i = 1; i < folds; i++) {
      const f = (next + i) % folds;
      if (count[f] < count[best]) best = f;
    }
    out[best].push(...g);
    count[best] += g.length;
    next = (best + 1) % folds;
  }
  return next;
}

function minFile(g: Sample[]): string {
  return g.reduce((m, s) => (s.file < m ? s.file : m), g[0].file);
}

/**
 * The index a fold run trains on: train = the other folds of the train split, val = fold k, and no
 * test split, so a fold run can never report (or be selected on) test accuracy. A val folder on disk
 * is not used: cross-validation draws only from the train split.
 */
export function applyFold(index: DatasetIndex, fold: FoldSpec, seed: number | string): DatasetIndex {
  checkFold(fold);
  const parts = stratifiedFolds(index.splits.train, index.classes, fold.folds, seed, index.groupOf);
  const train = parts.filter((_, i) => i !== fold.k - 1).flat();
  const val = parts[fold.k - 1];
  const of = index.groupOf;
  return {
    ...index,
    splits: { train, val, test: [] },
    splitSource: { train: index.splitSource.train, val: 'generated', test: 'none' },
    ...(index.groups && of ? { groups: { ...index.groups, counts: { train: countGroups(train, of), val: countGroups(val, of), test: null } } } : {}),
  };
}

export function checkFold(fold: FoldSpec): void {
  if (!Number.isInteger(fold.folds) || fold.folds < 2) throw new RangeError(`fold.folds must be an integer >= 2 (got ${fold.folds})`);
  if (!Number.isInteger(fold.k) || fold.k < 1 || fold.k > fold.folds) {
    throw new RangeError(`fold.k must be an integer in 1..${fold.folds} (got ${fold.k})`);
  }
}
