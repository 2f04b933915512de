// A seeded, stratified subset of a dataset as a folder of links to its photos: the CI gate trains on
// 100 photos per class of casting's 6,633 (the size a factory starts with, and affordable on two
// cores) and scores on a fixed subset of the test split. The same photos for the same seed, whatever
// order the file system lists them in (nestedSubsets sorts by path before shuffling).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { listDataset, type Sample } from '@parts/data';
import { nestedSubsets } from './learning-curve';

export interface SubsetSpec {
  /** Training photos per class (all of a class that has fewer). */
  trainPerClass: number;
  /** Test photos per class; absent = the whole test split. */
  testPerClass?: number;
  /** Seed of the draw (default 42). */
  seed?: number;
}

export interface SubsetDataset {
  root: string;
  classes: string[];
  train: number;
  test: number;
}

/** Checks a subset spec, naming the field (`where`) of a bad value. */
export function validateSubsetSpec(s: SubsetSpec, where: string): string[] {
  const problems: string[] = [];
  const whole = (x: unknown) => Number.isInteger(x) && (x as number) >= 1;
  if (!s || typeof s !== 'object') return [`${where} must be an object {trainPerClass, testPerClass?, seed?}`];
  if (!whole(s.trainPerClass)) problems.push(`${where}.trainPerClass must be a whole number >= 1 (got ${JSON.stringify(s.trainPerClass)})`);
  if (s.testPerClass !== undefined && !whole(s.testPerClass)) problems.push(`${where}.testPerClass must be a whole number >= 1 (got ${JSON.stringify(s.testPerClass)})`);
  if (s.seed !== undefined && !Number.isInteger(s.seed)) problems.push(`${where}.seed must be an integer (got ${JSON.stringify(s.seed)})`);
  return problems;
}

/**
 * Writes `dest`/{train,test}/<class>/<photo> as symbolic links to the drawn photos of `source`
 * (which must have a test folder). `dest` must not exist yet: a subset is never mixed into other files.
 */
export async function makeSubsetDataset(source: string, dest: string, spec: SubsetSpec): Promise<SubsetDataset> {
  const problems = validateSubsetSpec(spec, 'subset');
  if (problems.length) throw new Error(problems.join('; '));
  const index = await listDataset(source, { groupThreshold: 0 });
  if (index.splitSource.test !== 'folder') throw new Error(`subset of ${source}: it has no test folder to score on`);
  const seed = spec.seed ?? 42;
  const train = nestedSubsets(index.splits.train, index.classes, [spec.trainPerClass], seed)[0]!.samples;
  const test = spec.testPerClass === undefined ? index.splits.test : nestedSubsets(index.splits.test, index.classes, [spec.testPerClass], seed)[0]!.samples;
  await fs.mkdir(path.dirname(dest), { recursive: true });
  await fs.mkdir(dest); // fails when it exists
  const place = async (split: 'train' | 'test', s: Sample) => {
    const target = path.join(dest, split, index.classes[s.label]!, path.basename(s.file));
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.symlink(s.file, target);
  };
  for (const s of train) await place('train', s);
  for (const s of test) await place('test', s);
  return { root: dest, classes: index.classes, train: train.length, test: test.length };
}
