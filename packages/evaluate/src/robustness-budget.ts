// How much robustness testing an evaluation runs. Each shifted photo costs one decode, fit and
// forward pass (~80 ms for PartsNet at 128 px on one wasm thread), so the full grid (8 shifts × 3
// levels on every test photo, 25 passes per photo) is 36× a plain test pass. `quick`, the default,
// keeps every shift at a mild and a severe level (1 and 3) on a stratified, seeded sample of at most
// 8 test photos: 17 passes per photo. Both presets add the line's light (LINE_LIGHT_SHIFTS, 5 passes
// per photo) and the photo's quarter turns (LINE_TURN_SHIFTS, 3 passes): 25 per photo and ≤ 200 in
// all for quick, 33 per photo for full; when the model has an ood.json, every row counts acceptance.
import { DEFAULT_SHIFTS, LINE_LIGHT_SHIFTS, LINE_TURN_SHIFTS, makeRng, shuffled, type ShiftSpec } from '@parts/data';
import { featureAndLogitModel, readOodFile, type Classifier, type OodDetector } from '@parts/models';
import { evaluateRobustness, type RobustnessGrid, type RobustnessResult, type RobustnessRow, type RobustnessSample } from './robustness';
import { ROBUSTNESS_GRIDS } from '@parts/cli';

/** The grids of `--robustness`, listed once in the settings schema. */
export const ROBUSTNESS_PRESETS = ROBUSTNESS_GRIDS;
export type RobustnessPreset = (typeof ROBUSTNESS_PRESETS)[number];

export interface RobustnessBudget {
  /** Levels kept of each DEFAULT_SHIFTS entry (1-based). */
  levels: number[];
  /** At most this many test photos (stratified by class, seeded); Infinity = all. */
  maxPhotos: number;
}

export const ROBUSTNESS_BUDGETS: Record<Exclude<RobustnessPreset, 'off'>, RobustnessBudget> = {
  full: { levels: [1, 2, 3], maxPhotos: Infinity },
  quick: { levels: [1, 3], maxPhotos: 8 },
};

export function isRobustnessPreset(x: unknown): x is RobustnessPreset {
  return typeof x === 'string' && (ROBUSTNESS_PRESETS as readonly string[]).includes(x);
}

/** What evaluation.json records beside its `robustness` rows. */
export interface RobustnessSummary {
  preset: Exclude<RobustnessPreset, 'off'>;
  /** Photos shifted, of the split's total. */
  photos: number;
  of: number;
  units: Record<string, string>;
  seed: number;
  forwardPasses: number;
  seconds: number;
}

/**
 * Up to `max` samples, stratified: each class keeps its share (rounded, at least one where it has
 * photos), picked by a seeded shuffle; the result is in the input's order.
 */
export function stratifiedSample<T extends { label: number }>(samples: readonly T[], max: number, seed: number | string): T[] {
  if (samples.length <= max) return samples.slice();
  const byClass = new Map<number, number[]>();
  samples.forEach((s, i) => byClass.set(s.label, [...(byClass.get(s.label) ?? []), i]));
  const classes = [...byClass.keys()].sort((a, b) => a - b);
  const quota = new Map(classes.map((c) => [c, Math.max(1, Math.floor((byClass.get(c)!.length * max) / samples.length))]));
  // Hand out what rounding left, largest classes first.
  let left = max - [...quota.values()].reduce((a, b) => a + b, 0);
  for (const c of [...classes].sort((a, b) => byClass.get(b)!.length - byClass.get(a)!.length || a - b)) {
    if (left <= 0) break;
    if (quota.get(c)! < byClass.get(c)!.length) {
      quota.set(c, quota.get(c)! + 1);
      left--;
    }
  }
  const keep = new Set<number>();
  for (const c of classes) for (const i of shuffled(byClass.get(c)!, makeRng(`${seed}:robustness:${c}`)).slice(0, quota.get(c)!)) keep.add(i);
  return samples.filter((_, i) => keep.has(i)).slice(0, max);
}

/** The robustness rows of an evaluation under a preset (null for 'off'). */
export async function robustnessForEvaluation(
  c: Classifier,
  samples: readonly RobustnessSample[],
  preset: RobustnessPreset,
  seed = 0,
): Promise<{ rows: RobustnessRow[]; summary: RobustnessSummary } | null> {
  if (preset === 'off') return null;
  const budget = ROBUSTNESS_BUDGETS[preset];
  const shifts: ShiftSpec[] = DEFAULT_SHIFTS.map((s) => ({ name: s.name, params: budget.levels.map((l) => s.params[l - 1]) }));
  const picked = stratifiedSample(samples, budget.maxPhotos, seed);
  const detector = await modelDetector(c);
  // One pass over the photos (each decoded once) for the three grids; their rows follow the baseline in this order.
  const grids: { grid?: RobustnessGrid; shifts: readonly ShiftSpec[] }[] = [{ shifts }, { grid: 'line-light', shifts: LINE_LIGHT_SHIFTS }, { grid: 'turns', shifts: LINE_TURN_SHIFTS }];
  const res: RobustnessResult = await evaluateRobustness(c, picked, { shifts: grids.flatMap((g) => g.shifts), seed, detector });
  const [baseline, ...shifted] = res.robustness;
  const rows: RobustnessRow[] = [baseline!];
  for (const g of grids) {
    const n = g.shifts.reduce((sum, s) => sum + s.params.length, 0);
    // evaluateRobustness numbers each shift's levels 1..k; the severity grid's get their budget level back.
    for (const r of shifted.splice(0, n)) rows.push(g.grid ? { ...r, grid: g.grid } : { ...r, level: budget.levels[r.level - 1]! });
  }
  return {
    rows,
    summary: { preset, photos: picked.length, of: samples.length, units: res.units, seed: res.seed, forwardPasses: res.forwardPasses, seconds: res.seconds },
  };
}

/** The model's OOD detector (ood.json), or null when it has none. */
async function modelDetector(c: Classifier): Promise<OodDetector | null> {
  const fl = featureAndLogitModel(c.model);
  try {
    return await readOodFile(c.dir, { featureDim: fl.featureDim, labels: c.meta.labels });
  } finally {
    fl.dispose();
  }
}
