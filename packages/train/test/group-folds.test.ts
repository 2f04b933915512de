// Cross-validation folds that keep near-duplicate groups whole (folds.ts with a group map), and
// applyFold's group counts.
import { describe, expect, it } from 'vitest';
import type { DatasetIndex, Sample } from '@parts/data';
import { applyFold, stratifiedFolds } from '../src/folds';

/** Per class, groups of 1-3 photos; file names say class and group. */
function data(): { samples: Sample[]; groupOf: Map<string, number> } {
  const samples: Sample[] = [];
  const groupOf = new Map<string, number>();
  let id = 0;
  for (const c of [0, 1]) {
    for (let g = 0; g < 10; g++, id++) {
      for (let k = 0; k < 1 + (g % 3); k++) {
        const file = `/d/${c}/g${g}_${k}.jpg`;
        samples.push({ file, label: c });
        groupOf.set(file, id);
      }
    }
  }
  return { samples, groupOf };
}

describe('group-aware folds', () => {
  const { samples, groupOf } = data();

  it('deal whole groups, every class in every fold, balanced within a group size, reproducibly by seed', () => {
    const folds = stratifiedFolds(samples, ['a', 'b'], 4, 42, groupOf);
    expect(folds.flat().length).toBe(samples.length);
    const foldOfGroup = new Map<number, number>();
    folds.forEach((f, k) =>
      f.forEach((s) => {
        const g = groupOf.get(s.file)!;
        expect(foldOfGroup.get(g) ?? k, `group ${g} in folds ${foldOfGroup.get(g)} and ${k}`).toBe(k);
        foldOfGroup.set(g, k);
      }),
    );
    for (const f of folds) {
      for (const c of [0, 1]) {
        const n = f.filter((s) => s.label === c).length;
        // 19 photos per class in 4 folds: about 5 each, off by less than the largest group (3).
        expect(n).toBeGreaterThanOrEqual(2);
        expect(n).toBeLessThanOrEqual(8);
      }
    }
    expect(stratifiedFolds(samples, ['a', 'b'], 4, 42, groupOf)).toEqual(folds);
    expect(stratifiedFolds(samples, ['a', 'b'], 4, 43, groupOf)).not.toEqual(folds);
    // Without a group map some group is split across folds.
    const plain = stratifiedFolds(samples, ['a', 'b'], 4, 42);
    const split = [...new Set(groupOf.values())].some((g) => new Set(plain.flatMap((f, k) => f.filter((s) => groupOf.get(s.file) === g).map(() => k))).size > 1);
    expect(split).toBe(true);
  });

  it('need as many groups per class as folds, and name the class', () => {
    expect(() => stratifiedFolds(samples, ['a', 'b'], 11, 1, groupOf)).toThrow(/11 folds need at least 11 near-duplicate groups per class; class 'a' has 10 \(19 photos\)/);
  });

  it('applyFold reports the groups of its train and val splits', () => {
    const index: DatasetIndex = {
      root: '/d',
      classes: ['a', 'b'],
      splits: { train: samples, val: [], test: [] },
      splitSource: { train: 'folder', val: 'none', test: 'none' },
      groups: { threshold: 0.6, total: 20, largest: 2, crowd: 10, counts: { train: 20, val: null, test: null } },
      groupOf,
    };
    const f = applyFold(index, { k: 2, folds: 4 }, 42);
    expect(f.groups!.counts.train! + f.groups!.counts.val!).toBe(20);
    expect(f.groups!.counts.test).toBeNull();
    const valGroups = new Set(f.splits.val.map((s) => groupOf.get(s.file)));
    expect(f.splits.train.some((s) => valGroups.has(groupOf.get(s.file)))).toBe(false);
  });
});
