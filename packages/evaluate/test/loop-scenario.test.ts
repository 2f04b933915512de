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
// The recipe of PartsNet (the default) with fewer epochs, to keep the two trainings short; retrain
// repeats whatever recipe the served model was trained with.
const EPOCHS = 20;
const BACKEND = 'wasm' as const;
const MINUTES = 60_000;

const fmt = (k: number, n: number) => {
  const w = wilsonInterval(k, n);
  return `${k}/${n} = ${((k / n) * 100).toFixed(1)}% (95% CI ${(w.low * 100).toFixed(1)}-${(w.high * 100).toFixed(1)}%)`;
};

async function answers(modelDir: string, files: string[]): Promise<(string | null)[]> {
  const p = await loadPredictor(modelDir);
  try {
    const out: (string | null)[] = [];
    for await (const r of predictFiles(p, files)) {
      expect(r.error).toBeUndefined();
      out.push(r.label ?? null);
    }
    return out;
  } finally {
    p.dispose();
  }
}

const made: string[] = [];
afterAll(async () => {
  for (const d of made) await fs.rm(d, { recursive: true, force: true });
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
    const m: Record<string, string> = {};

    // 1. The served parts model.
    const first = await train({ data: PARTS, out: runs, epochs: EPOCHS, backend: BACKEND, log: () => {} });
    const firstEval = await evaluateRun(first.runDir, { robustness: 'off', gradcam: false });
    const promoted = await promoteEvaluated(first.runDir, firstEval, { target });
    expect(promoted.promoted).toBe(true);
    m.trainFirst = `${((Date.now() - t0) / 1000).toFixed(0)} s`;
    m.partsModelTest = fmt(firstEval.correct, firstEval.n);

    // 2. Nuts arrive: 20 to be reviewed (5 of each size, from bolts-nuts' train split) and the
    // held-back ones (its test split), answered by the served model through the predict path.
    const nutTrain = (await Promise.all(NUT_CLASSES.map((c) => expandInputs([path.join(BOLTS_NUTS, 'train', c)])))).map((f) => f.slice(0, 5)).flat();
    const heldBack = (await Promise.all(NUT_CLASSES.map((c) => expandInputs([path.join(BOLTS_NUTS, 'test', c)])))).flat();
    expect(nutTrain).toHaveLength(20);
    const before = await answers(target, [...nutTrain, ...heldBack]);
    const unknownBefore = before.filter((l) => l === null).length;
    m.nutsUnknownBefore = fmt(unknownBefore, before.length);
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
    m.version = `v${v.version}: nut ${v.manifest.counts.train.nut} train / ${v.manifest.counts.test.nut} test`;
    const t1 = Date.now();
    const report = await retrain({ versionsRoot: versions, target, runsDir: runs, backend: BACKEND, log: () => {} });
    m.retrain = `${((Date.now() - t1) / 1000).toFixed(0)} s (train ${report.seconds.train.toFixed(0)} s)`;
    const test = report.comparisons.find((c) => c.set === 'test')!;
    const rev = report.comparisons.find((c) => c.set === 'reviewed')!;
    m.comparisonTest = `in service ${fmt(test.current.correct, test.n)}, candidate ${fmt(test.candidate.correct, test.n)}, McNemar b ${test.mcnemar.b} c ${test.mcnemar.c} p ${test.mcnemar.p.toFixed(4)} (${test.mcnemar.method})`;
    m.comparisonReviewed = `in service ${fmt(rev.current.correct, rev.n)}, candidate ${fmt(rev.candidate.correct, rev.n)}, McNemar p ${rev.mcnemar.p.toFixed(4)}`;
    expect(report.promoted, report.message).toBe(true);
    const card = (await readModelCard(target))!;
    expect(card.runId).toBe(report.candidate!.runId);
    expect(card.labels).toEqual(['big', 'nut', 'small']);
    // Same photos, same order for both: the reviewed nuts in test are a subset of the test set.
    expect(rev.n).toBe(v.manifest.counts.test.nut);

    // 6. The promoted model names held-back nut photos and keeps big/small.
    const after = await answers(target, heldBack);
    const nutRight = after.filter((l) => l === 'nut').length;
    m.heldBackNuts = fmt(nutRight, heldBack.length);
    expect(nutRight / heldBack.length).toBeGreaterThanOrEqual(0.8);
    const partsTest = (await listDataset(PARTS, { validate: false })).splits.test;
    const partsClasses = ['big', 'small'];
    const truth = partsTest.map((s) => partsClasses[s.label]);
    const files = partsTest.map((s) => s.file);
    const oldRight = (await answers(path.join(first.runDir, 'model'), files)).filter((l, i) => l === truth[i]).length;
    const newRight = (await answers(target, files)).filter((l, i) => l === truth[i]).length;
    m.bigSmallBefore = fmt(oldRight, files.length);
    m.bigSmallAfter = fmt(newRight, files.length);
    expect(newRight).toBeGreaterThanOrEqual(oldRight - 1);

    // Rolling back to the parts model from the history works, and returns the old labels.
    expect((await listHistoryModels(target)).map((h) => h.runId).sort()).toEqual([first.runId, report.candidate!.runId].sort());
    await rollbackTo(first.runId, { target });
    expect((await readModelCard(target))!.labels).toEqual(['big', 'small']);
    m.total = `${((Date.now() - t0) / 1000).toFixed(0)} s`;
    process.stdout.write(`loop scenario measured:\n${Object.entries(m).map(([k, x]) => `  ${k}: ${x}`).join('\n')}\n`);
  }, 90 * MINUTES);
});
