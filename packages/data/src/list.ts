import { existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import fg from 'fast-glob';
import { probeImage } from './decode';
import { makeRng, shuffled } from './rng';
import { countGroups, GROUP_CROWD, groupStratifiedSplit, nearDuplicateGroups } from './near-duplicate-groups';
import type { BadFile, DatasetIndex, Sample, SplitName } from './types';
import type { SignatureCache } from './similarity';

export interface ListOptions {
  /** Fraction of train carved out as a stratified validation split when there is no val folder. Default 0. */
  valSplit?: number;
  /** Fraction of train held out as test when there is no test folder. Default 1/3 (as in the study). */
  testSplit?: number;
  /** Seed of the generated splits. Default 42. */
  seed?: number;
  /** Seed of a generated test split (default: a fixed one, independent of `seed`). */
  testSeed?: number;
  /** Skip (and list in `skipped`) unreadable files instead of failing. Default false. */
  skipBad?: boolean;
  /** Decode every file (at a tiny size) to find corrupt ones. Default true; false lists without reading. */
  validate?: boolean;
  /**
   * Similarity at or above which train-folder photos of one class form a near-duplicate group
   * (near-duplicate-groups.ts) that the generated test and val splits keep on one side. 0 or
   * absent: photos are split one by one (the behaviour of runs recorded before groups existed).
   */
  groupThreshold?: number;
  /** See GroupOptions.crowd (near-duplicate-groups.ts); Infinity groups like runs recorded before it existed. */
  groupCrowd?: number;
  /**
   * Called as photos are read: each file's decode check ('reading'), the group signatures
   * ('grouping'), then the signatures' pairs ('comparing', counted in pairs).
   */
  onProgress?: (stage: 'reading' | 'grouping' | 'comparing', done: number, total: number) => void;
  /** Where the groups' signatures go, for a data check of the same photos to reuse (GroupOptions.signatures). */
  signatures?: SignatureCache;
}

/** A dataset problem that names the offending path; `badFiles` is set when files failed to decode. */
export class DatasetError extends Error {
  override name = 'DatasetError';
  constructor(
    message: string,
    readonly badFiles: BadFile[] = [],
  ) {
    super(message);
  }
}

export const IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png', 'webp'] as const;
const SPLITS: SplitName[] = ['train', 'val', 'test'];
const DEFAULT_SEED = 42;

/** Plain code-unit order: identical on every machine and locale, unlike localeCompare. */
export function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Follows symlinks; a dangling link is no folder. */
function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

async function subfolders(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => !e.name.startsWith('.') && (e.isDirectory() || (e.isSymbolicLink() && isDirectory(path.join(dir, e.name)))))
    .map((e) => e.name)
    .sort(byCodeUnit);
}

async function imagesIn(dir: string): Promise<string[]> {
  const files = await fg(`*.{${IMAGE_EXTENSIONS.join(',')}}`, {
    cwd: dir,
    absolute: true,
    onlyFiles: true,
    caseSensitiveMatch: false,
    dot: false,
  });
  return files.map((f) => path.normalize(f)).sort(byCodeUnit);
}

function checkFraction(name: string, v: number, allowZero: boolean): void {
  if (!Number.isFinite(v) || v < 0 || v >= 1 || (!allowZero && v === 0)) {
    throw new RangeError(`${name} must be a fraction in ${allowZero ? '[0' : '(0'}, 1), got ${v}`);
  }
}

/**
 * Splits samples per class with a seeded shuffle. Each class draws from its own stream keyed by
 * seed, purpose and class name, so adding a class or a file elsewhere does not reshuffle a class.
 * Every class keeps at least one sample on the remaining side.
 */
export function stratifiedSplit(
  samples: readonly Sample[],
  classes: readonly string[],
  fraction: number,
  seed: number | string,
  purpose: string,
): { kept: Sample[]; taken: Sample[] } {
  const kept: Sample[] = [];
  const taken: Sample[] = [];
  classes.forEach((cls, label) => {
    const own = samples.filter((s) => s.label === label);
    if (own.length === 0) return;
    const n = Math.min(own.length - 1, Math.round(own.length * fraction));
    const order = shuffled(own, makeRng(`${seed}:${purpose}:${cls}`));
    taken.push(...order.slice(0, n));
    kept.push(...order.slice(n));
  });
  const sort = (a: Sample, b: Sample) => a.label - b.label || byCodeUnit(a.file, b.file);
  return { kept: kept.sort(sort), taken: taken.sort(sort) };
}

/**
 * Indexes <root>/<split>/<class>/<image> (split = train, test, optional val). Classes are the
 * sorted class folder names; every split folder must hold every class folder, none empty.
 * A missing test (val) folder is replaced by a seeded stratified split of train.
 */
export async function listDataset(root: string, opts: ListOptions = {}): Promise<DatasetIndex> {
  const valSplit = opts.valSplit ?? 0;
  const testSplit = opts.testSplit ?? 1 / 3;
  const seed = opts.seed ?? DEFAULT_SEED;
  checkFraction('valSplit', valSplit, true);
  checkFraction('testSplit', testSplit, false);

  const absRoot = path.resolve(root);
  if (!existsSync(absRoot)) throw new DatasetError(`dataset root not found: ${absRoot}`);
  if (!statSync(absRoot).isDirectory()) throw new DatasetError(`dataset root is not a folder: ${absRoot}`);
  const present = new Set(await subfolders(absRoot));
  if (!present.has('train')) {
    throw new DatasetError(`no train folder in ${absRoot} (expected ${path.join(absRoot, 'train', '<class>', '<image>')})`);
  }
  const folderSplits = SPLITS.filter((s) => present.has(s));

  const classesBySplit = new Map<SplitName, string[]>();
  for (const split of folderSplits) classesBySplit.set(split, await subfolders(path.join(absRoot, split)));
  const classes = [...new Set([...classesBySplit.values()].flat())].sort(byCodeUnit);
  if (classes.length < 2) {
    throw new DatasetError(
      `a dataset needs at least 2 classes, found ${classes.length} (${classes.join(', ') || 'none'}) in ${path.join(absRoot, 'train')}`,
    );
  }
  // A class absent from one split would silently skew training or evaluation: require all of them.
  for (const split of folderSplits) {
    const have = new Set(classesBySplit.get(split));
    const missing = classes.filter((c) => !have.has(c));
    if (missing.length) {
      throw new DatasetError(`split folder ${path.join(absRoot, split)} lacks class folder(s): ${missing.join(', ')}`);
    }
  }

  const found: Partial<Record<SplitName, Sample[]>> = {};
  for (const split of folderSplits) {
    const samples: Sample[] = [];
    for (const [label, cls] of classes.entries()) {
      const dir = path.join(absRoot, split, cls);
      const files = await imagesIn(dir);
      if (files.length === 0) {
        throw new DatasetError(`empty class folder: ${dir} (no ${IMAGE_EXTENSIONS.join('/')} images)`);
      }
      for (const file of files) samples.push({ file, label });
    }
    found[split] = samples;
  }

  const skipped: BadFile[] = [];
  if (opts.validate ?? true) {
    const all = Object.values(found).flat();
    const errors = await mapLimit(all, 4, (s) => probeImage(s.file), opts.onProgress && ((done, total) => opts.onProgress!('reading', done, total)));
    const bad = new Set<string>();
    errors.forEach((err, i) => {
      if (err) {
        skipped.push({ file: all[i].file, reason: err.message, code: err.code });
        bad.add(all[i].file);
      }
    });
    if (skipped.length && !opts.skipBad) {
      throw new DatasetError(
        `${skipped.length} unreadable image file(s) (use --skip-bad to skip them):\n${skipped.map((b) => `  ${b.reason}`).join('\n')}`,
        skipped,
      );
    }
    for (const split of folderSplits) {
      found[split] = found[split]!.filter((s) => !bad.has(s.file));
      for (const [label, cls] of classes.entries()) {
        if (!found[split]!.some((s) => s.label === label)) {
          throw new DatasetError(`class folder ${path.join(absRoot, split, cls)} has no readable images left after skipping bad files`);
        }
      }
    }
  }

  const splitSource: DatasetIndex['splitSource'] = { train: 'folder', val: 'none', test: 'none' };
  let train = found.train!;
  const groupThreshold = opts.groupThreshold ?? 0;
  if (!(Number.isFinite(groupThreshold) && groupThreshold >= 0 && groupThreshold <= 1)) {
    throw new RangeError(`groupThreshold must be 0 (no grouping) or a similarity in (0, 1], got ${groupThreshold}`);
  }
  let groupOfFile: Map<string, number> | null = null;
  let largestGroup = 0;
  const groupCrowd = opts.groupCrowd ?? GROUP_CROWD;
  if (groupThreshold > 0) {
    const g = await nearDuplicateGroups(train, { threshold: groupThreshold, crowd: groupCrowd, signatures: opts.signatures, onProgress: opts.onProgress && ((done, total) => opts.onProgress!('grouping', done, total)), onCompare: opts.onProgress && ((done, total) => opts.onProgress!('comparing', done, total)) });
    groupOfFile = new Map(train.map((s, i) => [s.file, g.groupOf[i]]));
    largestGroup = g.largest;
  }
  const split = (samples: Sample[], fraction: number, seed: number, purpose: string) =>
    groupOfFile ? groupStratifiedSplit(samples, classes, fraction, seed, purpose, groupOfFile) : stratifiedSplit(samples, classes, fraction, seed, purpose);
  let test: Sample[] = [];
  let val: Sample[] = [];
  if (found.test) {
    test = found.test;
    splitSource.test = 'folder';
  } else {
    // The held-out test set must not move with the training seed: runs trained with different seeds
    // are compared on it. Only `testSeed` (rarely needed) changes it.
    ({ kept: train, taken: test } = split(train, testSplit, opts.testSeed ?? DEFAULT_SEED, 'test'));
    splitSource.test = 'generated';
  }
  if (found.val) {
    val = found.val;
    splitSource.val = 'folder';
  } else if (valSplit > 0) {
    ({ kept: train, taken: val } = split(train, valSplit, seed, 'val'));
    splitSource.val = 'generated';
  }

  const index: DatasetIndex = { root: absRoot, classes, splits: { train, val, test }, splitSource };
  if (groupOfFile) {
    const of = groupOfFile;
    // Groups per split drawn from the train folder; a split read from its own folder was not grouped.
    const count = (name: SplitName) => (name === 'train' || splitSource[name] === 'generated' ? countGroups(index.splits[name], of) : null);
    index.groups = { threshold: groupThreshold, total: new Set(of.values()).size, largest: largestGroup, crowd: Number.isFinite(groupCrowd) ? groupCrowd : null, counts: { train: count('train'), val: count('val'), test: count('test') } };
    index.groupOf = of;
  }
  if (skipped.length) index.skipped = skipped;
  return index;
}

/**
 * Maps with at most `limit` promises in flight (sharp work runs on libuv's small thread pool), in the
 * items' order; `onDone` is told how many items are done after each one.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
  onDone?: (done: number, total: number) => void,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
      onDone?.(++done, items.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
