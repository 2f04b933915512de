// The loop from the line back to the model, end to end on the shared photos (skipped when they are
// absent): a `parts` model (big vs small bolts) is trained and promoted into a temporary served
// folder; photos of nuts (bolts-nuts M*_nut) are answered "unknown" by the real predict path with
// the model's OOD detector; 20 of them are reviewed as a new class `nut` (records as the review page
// writes them); a dataset version is built; retrain trains a candidate with the served model's
// recipe, compares it with the served one on the same photos and promotes it; the promoted model
// names held-back nut photos and keeps its big/small accuracy. The measured figures are printed.
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '@parts/cli';
import { buildDatasetVersion, contentHash, listDataset, type ReviewedPhoto } from '@parts/data';
import { loadPredictor } from '@parts/models';
import { expandInputs, predictFiles, train } from '@parts/train';
import { evaluateRun } from '../src/evaluation';
import { promoteEvaluated, readModelCard } from '../src/promote';
import { retrain } from '../src/retrain';
import { listHistoryModels, rollbackTo } from '../src/model-history';
import { wilsonInterval } from '../src/metrics';
import { tempDir } from './helpers';

const SHARED = path.join(repoRoot(), '..', 'shared', 'datasets');
const PARTS = path.join(SHARED, 'parts');
const BOLTS_NUTS = path.join(SHARED, 'bolts-nuts');
const have = existsSync(path.join(PARTS, 'train')) && existsSync(path.join(BOLTS_NUTS, 'train'));
const NUT_CLASSES = ['M5_nut', 'M6_nut', 'M8_nut', 'M12_nut'];
// `pnpm train`'s default recipe (PartsNet, 40 epochs); retrain repeats the served model's recipe.
const BACKEND = 'wasm' as const;
const MINUTES = 60_000;

const fmt = (k: number, n: number) => {
  const w = wilsonInterval(k, n);
  return `${k}/${n} = ${((k / n) * 100).toFixed(1)}% (95% CI ${(w.low * 100).toFixed(1)}-${(w.high * 100).toFixed(1)}%)`;
};

/** Served answers (label, null = unknown) and top classes of a model for the files, through the predict path. */
async function answersTop(modelDir: string, files: string[]): Promise<{ label: string | null; top: string }[]> {
  const p = await loadPredictor(modelDir);
  try {
    const out: { label: string | null; top: string }[] = [];
    for await (const r of predictFiles(p, files)) {
      expect(r.error).toBeUndefined();
      out.push({ label: r.label ?? null, top: r.top! });
    }
    return out;
  } finally {
    p.dispose();
  }
}

const answers = async (modelDir: string, files: string[]) => (await answersTop(modelDir, files)).map((a) => a.label);
const tally = (xs: (string | null)[]) => Object.entries(xs.reduce<Record<string, number>>((t, x) => ((t[x ?? 'unknown'] = (t[x ?? 'unknown'] ?? 0) + 1), t), {})).map(([k, n]) => `${k} ${n}`).join(', ');

const made: string[] = [];
let passed = false;
afterAll(async () => {
  // A failed run keeps its folder (runs with retrain.md, versions, served model) to look into.
  if (passed) for (const d of made) await fs.rm(d, { recursive: true, force: true });
  else if (made.length) process.stdout.write(`loop scenario: kept ${made.join(', ')}\n`);
});

describe.skipIf(!have)('the loop on the shared photos: nuts answered unknown, reviewed as `nut`, retrained, promoted', () => {
  it('trains and serves a parts model, learns the new class from 20 reviewed nut photos, keeps big/small', async () => {
    const t0 = Date.now();
    const work = await tempDir('parts-loop-');
    made.push(work);
    const runs = path.join(work, 'runs');
    const target = path.join(work, 'serve', 'model');
    const versions = path.join(work, 'datasets', 'versions');
    const store = path.join(work, 'var', 'photos');
    await fs.mkdir(store, { recursive: true });
    const note = (k: string, v: string) => {
      process.stdout.write(`loop scenario: ${k}: ${v}\n`);
    };

    // 1. The served parts model.
    const first = await train({ data: PARTS, out: runs, backend: BACKEND, log: () => {} });
    const firstEval = await evaluateRun(first.runDir, { robustness: 'off', gradcam: false });
    const promoted = await promoteEvaluated(first.runDir, firstEval, { target });
    expect(promoted.promoted).toBe(true);
    note('trainFirst', `${((Date.now() - t0) / 1000).toFixed(0)} s`);
    note('partsModelTest', fmt(firstEval.correct, firstEval.n));

    // 2. Nuts arrive: 20 to be reviewed (5 of each size, from bolts-nuts' train split) and the
    // held-back ones (its test split), answered by the served model through the predict path.
    const nutTrain = (await Promise.all(NUT_CLASSES.map((c) => expandInputs([path.join(BOLTS_NUTS, 'train', c)])))).map((f) => f.slice(0, 5)).flat();
    const heldBack = (await Promise.all(NUT_CLASSES.map((c) => expandInputs([path.join(BOLTS_NUTS, 'test', c)])))).flat();
    expect(nutTrain).toHaveLength(20);
    const before = await answers(target, [...nutTrain, ...heldBack]);
    const unknownBefore = before.filter((l) => l === null).length;
    note('nutsUnknownBefore', `${fmt(unknownBefore, before.length)} (${tally(before)})`);
    expect(unknownBefore / before.length).toBeGreaterThanOrEqual(0.9);

    // 3. A reviewer labels the 20 as the new class `nut`; the log keeps each photo by its hash.
    const reviewed: ReviewedPhoto[] = [];
    for (const [i, file] of nutTrain.entries()) {
      const hash = await contentHash(file);
      const stored = path.join(store, `${hash}${path.extname(file).toLowerCase()}`);
      await fs.copyFile(file, stored);
      reviewed.push({ hash, file: stored, label: 'nut', reviewer: 'reviewer-1', reviewedAt: new Date(Date.UTC(2026, 0, 1, 9, i)).toISOString(), source: 'line-1', loggedAt: null, modelId: first.runId });
    }

    // 4. Dataset version, 5. retrain.
    const v = await buildDatasetVersion({ base: PARTS, root: versions, reviewed });
    expect(v.manifest.newClasses).toEqual(['nut']);
    note('version', `v${v.version}: nut ${v.manifest.counts.train.nut} train / ${v.manifest.counts.test.nut} test`);
    const t1 = Date.now();
    const report = await retrain({ versionsRoot: versions, target, runsDir: runs, backend: BACKEND, log: () => {} });
    note('retrain', `${((Date.now() - t1) / 1000).toFixed(0)} s (train ${report.seconds.train.toFixed(0)} s)`);
    const test = report.comparisons.find((c) => c.set === 'test')!;
    const rev = report.comparisons.find((c) => c.set === 'reviewed')!;
    note('comparisonTest', `in service ${fmt(test.current.correct, test.n)}, candidate ${fmt(test.candidate.correct, test.n)}, McNemar b ${test.mcnemar.b} c ${test.mcnemar.c} p ${test.mcnemar.p.toFixed(4)} (${test.mcnemar.method})`);
    note('comparisonReviewed', `in service ${fmt(rev.current.correct, rev.n)}, candidate ${fmt(rev.candidate.correct, rev.n)}, McNemar p ${rev.mcnemar.p.toFixed(4)}`);
    expect(report.promoted, report.message).toBe(true);
    const card = (await readModelCard(target))!;
    expect(card.runId).toBe(report.candidate!.runId);
    expect(card.labels).toEqual(['big', 'nut', 'small']);
    // Same photos, same order for both: the reviewed nuts in test are a subset of the test set.
    expect(rev.n).toBe(v.manifest.counts.test.nut);

    // 6. The promoted model names held-back nut photos and keeps big/small.
    const after = await answersTop(target, heldBack);
    const nutRight = after.filter((a) => a.label === 'nut').length;
    const nutTop = after.filter((a) => a.top === 'nut').length;
    const wrongAccepted = after.filter((a) => a.label !== null && a.label !== 'nut').length;
    note('heldBackNuts', `answered nut ${fmt(nutRight, heldBack.length)}; top class nut ${fmt(nutTop, heldBack.length)}; answers: ${tally(after.map((a) => a.label))}`);
    // Learnt: most held-back nuts named (none before), few taken for a bolt. Measured with the default
    // recipe (seed 42, wasm): 26/28 named, 2 unknown, none taken for a bolt; with the full line light
    // as augmentation and in the detector (--ood-line-light, not the default) 8/28 were answered "small".
    expect(nutRight / heldBack.length).toBeGreaterThanOrEqual(0.5);
    expect(wrongAccepted / heldBack.length).toBeLessThanOrEqual(0.2);
    const partsTest = (await listDataset(PARTS, { validate: false })).splits.test;
    const partsClasses = ['big', 'small'];
    const truth = partsTest.map((s) => partsClasses[s.label]);
    const files = partsTest.map((s) => s.file);
    const oldRight = (await answers(path.join(first.runDir, 'model'), files)).filter((l, i) => l === truth[i]).length;
    const newRight = (await answers(target, files)).filter((l, i) => l === truth[i]).length;
    note('bigSmallBefore', fmt(oldRight, files.length));
    note('bigSmallAfter', fmt(newRight, files.length));
    expect(newRight).toBeGreaterThanOrEqual(oldRight - 1);

    // Rolling back to the parts model from the history works, and returns the old labels.
    expect((await listHistoryModels(target)).map((h) => h.runId).sort()).toEqual([first.runId, report.candidate!.runId].sort());
    await rollbackTo(first.runId, { target });
    expect((await readModelCard(target))!.labels).toEqual(['big', 'small']);
    note('total', `${((Date.now() - t0) / 1000).toFixed(0)} s`);
    passed = true;
  }, 90 * MINUTES);
});
