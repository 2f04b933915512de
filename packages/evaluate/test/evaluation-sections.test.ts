// evaluateRun's OOD, calibration, robustness and Grad-CAM sections and the report built from them,
// on real tiny models: one trained with a validation split (so with model/ood.json), one without.
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { promisify } from 'node:util';
import { repoRoot } from '@parts/cli';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@parts/backend';
import { defaultOodMethod, detectorMethod, readOodFile } from '@parts/models';
import { generateDemoDataset } from '@parts/data';
import { train, type TrainOptions } from '@parts/train';
import { evaluateRun } from '../src/evaluation';
import { readEvaluation } from '../src/evaluation-record';
import { makeHoldoutDataset } from '../src/ood-holdout';
import { evaluateOodRun } from '../src/ood-study';
import { ROBUSTNESS_BUDGETS, stratifiedSample } from '../src/robustness-budget';
import { writeReport } from '../src/report';
import { tempDir } from './helpers';

const QUICK: Omit<TrainOptions, 'data'> = { arch: 'tinyvgg', mode: 'scratch', imgSize: 24, epochs: 3, batchSize: 8, backend: 'wasm', quiet: true, patience: 0, seed: 3 };

let root: string;
let withOod: string;
let withoutOod: string;

beforeAll(async () => {
  await initBackend('wasm');
  root = await tempDir('eval-sections-');
  const data = path.join(root, 'demo');
  // 7 + 7 test photos: more than the quick grid's 8, so the cap shows.
  await generateDemoDataset(data, { seed: 4, trainPerClass: 10, testPerClass: 7, width: 96, height: 72 });
  withOod = (await train({ ...QUICK, data, out: path.join(root, 'runs'), valSplit: 0.3 })).runDir;
  withoutOod = (await train({ ...QUICK, data, out: path.join(root, 'runs'), valSplit: 0 })).runDir;
});

describe('evaluateRun sections', () => {
  it('records OOD coverage, far-OOD rejection, calibration, quick robustness and Grad-CAM overlays', async () => {
    const before = tf.memory().numTensors;
    const ev = await evaluateRun(withOod);
    expect(tf.memory().numTensors).toBe(before);
    // What evaluateRun returns is what evaluation.json holds (no NaN turned into null on the way).
    expect(await readEvaluation(withOod)).toEqual(ev);

    const o = ev.ood!;
    expect(o.status).toBe('ok');
    const sil = o.parts!.silhouette;
    expect(o.method).toBe(`${defaultOodMethod('tinyvgg')}${sil ? '+silhouette' : ''}`);
    expect(o.parts!.feature.method).toBe(defaultOodMethod('tinyvgg'));
    expect(o.aurocScore).toBe('feature');
    expect(o.known!.n).toBe(14);
    // Accepted when every part accepts: the feature part's own count, less what the shape part rejects.
    const featureAccepted = o.scores!.known.filter((s) => s >= o.threshold!).length;
    expect(o.parts!.feature.knownRejected).toBe(14 - featureAccepted);
    if (sil) expect(o.known!.accepted).toBeLessThanOrEqual(Math.min(featureAccepted, 14 - sil.knownRejected));
    else expect(o.known!.accepted).toBe(featureAccepted);
    expect(o.known!.coverage).toBeCloseTo(o.known!.accepted / 14, 12);
    // 4 generated images of each of 7 kinds, 8 blurred and 8 dark test photos.
    expect(o.far!.n).toBe(44);
    expect(o.far!.byKind.blurred).toMatchObject({ n: 8 });
    expect(o.far!.byKind.noise).toMatchObject({ n: 4 });
    expect(o.parts!.feature.farRejected).toBe(o.scores!.far.filter((s) => !(s >= o.threshold!)).length);
    expect(o.far!.rejected).toBeGreaterThanOrEqual(Math.max(o.parts!.feature.farRejected, sil?.farRejected ?? 0));
    if (!sil) expect(o.far!.rejected).toBe(o.parts!.feature.farRejected);
    expect(o.aurocKnownVsFar).toBeGreaterThanOrEqual(0);
    expect(o.aurocKnownVsFar).toBeLessThanOrEqual(1);

    const c = ev.calibration!;
    expect(c.n).toBe(14);
    expect(c.temperature).toBeGreaterThan(0);
    expect(c.binsBefore.reduce((a, b) => a + b.count, 0)).toBe(14);
    expect(c.binsAfter.reduce((a, b) => a + b.count, 0)).toBe(14);

    // quick: baseline + 8 shifts × levels 1 and 3 on 8 stratified photos.
    const rows = ev.robustness!;
    expect(rows[0]).toMatchObject({ shift: 'none', level: 0, n: 8 });
    // The severity grid (8 shifts × levels 1 and 3), then the 5 line-light rows and the 3 quarter turns.
    expect(rows.filter((r) => !r.grid).length).toBe(1 + 8 * 2);
    expect(rows.filter((r) => r.grid === 'line-light').length).toBe(5);
    expect(rows.filter((r) => r.grid === 'turns').map((r) => `${r.shift} ${r.param}`)).toEqual(['turn 90', 'turn 180', 'turn 270']);
    expect([...new Set(rows.filter((r) => r.level > 0 && !r.grid).map((r) => r.level))]).toEqual([1, 3]);
    expect(rows.find((r) => r.shift === 'brightness' && r.level === 3)!.param).toBe(0.4);
    expect(ev.robustnessSummary).toMatchObject({ preset: 'quick', photos: 8, of: 14, forwardPasses: 8 * (17 + 5 + 3) });

    const g = ev.gradcam!;
    expect(g.layer).toBe('block2_conv2');
    expect(g.method).toBe('contrast');
    const wrong = ev.predictions.filter((p) => !p.correct).length;
    expect(g.items.filter((i) => !i.correct).length).toBe(Math.min(wrong, 24));
    const classesRight = new Set(ev.predictions.filter((p) => p.correct).map((p) => p.true));
    expect(g.items.filter((i) => i.correct).map((i) => i.true).sort()).toEqual([...classesRight].sort());
    for (const i of g.items) {
      expect(i.error).toBeUndefined();
      // Darkness focus of each map: a ratio around 1, or null for a map without evidence.
      if (i.hasEvidence) expect(i.focus).toBeGreaterThan(0);
      else expect(i.focus).toBeNull();
      const png = await fs.readFile(path.join(withOod, i.overlay!));
      expect(png.subarray(1, 4).toString()).toBe('PNG');
    }
  });

  it('says "no scorer" for a run without ood.json and still evaluates; robustness off and no Grad-CAM on request', async () => {
    const ev = await evaluateRun(withoutOod, { robustness: 'off', gradcam: false });
    expect(ev.n).toBe(14);
    expect(ev.ood!.status).toBe('no scorer');
    expect(ev.calibration!.temperature).toBeNull();
    expect(ev.calibration!.eceAfter).toBe(ev.calibration!.eceBefore);
    expect(ev.robustness).toEqual([]);
    expect(ev.robustnessSummary).toBeNull();
    expect(ev.gradcam).toBeNull();
  });

  it('the report shows the sections: reliability diagram, score histogram, robustness table and chart, Grad-CAM', async () => {
    const a = await readEvaluation(withOod);
    const b = await evaluateRun(withoutOod, { robustness: 'off', gradcam: false });
    const res = await writeReport(
      [
        { runId: a.runId, runDir: withOod, status: 'ok', evaluation: a, arch: a.arch, mode: a.mode },
        { runId: b.runId, runDir: withoutOod, status: 'ok', evaluation: b, arch: b.arch, mode: b.mode },
      ],
      { outRoot: path.join(root, 'reports') },
    );
    expect(res.warnings).toEqual([]);
    const html = await fs.readFile(path.join(res.dir, 'index.html'), 'utf8');
    const md = await fs.readFile(path.join(res.dir, 'report.md'), 'utf8');
    const charts = await fs.readdir(path.join(res.dir, 'charts'));
    const slug = a.runId.replace(/[^A-Za-z0-9._-]/g, '_');
    expect(charts).toEqual(expect.arrayContaining([`${slug}-reliability.png`, `${slug}-ood-scores.png`, `${slug}-robustness.png`]));
    expect(html).toContain('alt="reliability diagram"');
    expect(html).toContain('alt="OOD score histogram"');
    expect(html).toContain('<table class="robustness">');
    expect(html).toMatch(/Known test photos accepted: \d+\/14/);
    expect(html).toMatch(/Far-OOD images rejected: \d+\/44/);
    expect(html).toMatch(/on 8 of 14 test photos \(stratified by class, seeded\)/);
    expect(html).toContain('size is the label');
    expect(html).toContain('contrast overlays at layer <code>block2_conv2</code>');
    expect(html).toContain('around the part or at the photo&#39;s edges');
    expect(html).toMatch(/Explanation focus: \d+ of \d+ maps weight the photo&#39;s dark pixels/);
    expect((await fs.readdir(path.join(res.dir, 'gradcam', slug))).length).toBe(a.gradcam!.items.length);
    // The run without ood.json.
    expect(html).toContain('No scorer: no model/ood.json');
    expect(html).toContain('Robustness: off.');
    expect(md).toContain('### Unknown photos and calibration');
    expect(md).toContain('| shift | level 1 | level 3 |');
    expect(md).toMatch(/ECE [\d.]+ before, [\d.]+ after temperature scaling/);
  });
});

describe('pnpm evaluate --robustness / --no-gradcam', () => {
  it('passes the choices through to evaluation.json and refuses an unknown grid', async () => {
    const exec = promisify(execFile);
    const tsx = path.join(repoRoot(), 'node_modules', '.bin', 'tsx');
    const cli = path.join(repoRoot(), 'packages', 'evaluate', 'src', 'cli', 'evaluate.ts');
    const r = await exec(tsx, [cli, '--run', withOod, '--robustness', 'off', '--no-gradcam', '--no-report', '--backend', 'wasm']);
    expect(r.stderr).toMatch(/✓ .*accuracy/);
    const ev = await readEvaluation(withOod);
    expect(ev.ood!.status).toBe('ok');
    expect(ev.robustness).toEqual([]);
    expect(ev.gradcam).toBeNull();
    const bad = await exec(tsx, [cli, '--run', withOod, '--robustness', 'some', '--no-report']).catch((e: { code: number; stderr: string }) => e);
    expect((bad as { code: number }).code).toBe(1);
    expect((bad as { stderr: string }).stderr).toMatch(/--robustness.*some.*quick, full, off|Allowed choices are full, quick, off/);
  });
});

describe('pnpm evaluate --check with a leave-classes-out task', () => {
  it('measures the latest run trained without the left-out class and fails beyond the margin', async () => {
    // A 3-class source: the demo's big and small, and "other" (big bolts drawn with another seed).
    const src = path.join(root, 'three');
    const other = path.join(root, 'demo-other');
    await generateDemoDataset(other, { seed: 9, trainPerClass: 10, testPerClass: 7, width: 96, height: 72 });
    for (const split of ['train', 'test']) {
      await fs.mkdir(path.join(src, split), { recursive: true });
      await fs.symlink(path.join(root, 'demo', split, 'big'), path.join(src, split, 'big'));
      await fs.symlink(path.join(root, 'demo', split, 'small'), path.join(src, split, 'small'));
      await fs.symlink(path.join(other, split, 'big'), path.join(src, split, 'other'));
    }
    const holdout = await makeHoldoutDataset(src, ['other'], path.join(root, 'holdout'));
    const run = await train({ ...QUICK, data: holdout.root, out: path.join(root, 'holdout-runs'), valSplit: 0.3 });
    const baseline = (auroc: number, rejection: number, margin: number) => ({
      format: 'parts-baseline/1',
      tasks: { elsewhere: { arch: 'partsnet', accuracy: 0.5 } },
      ood: { lo: { dataset: 'three', arch: 'tinyvgg', leaveOut: ['other'], method: 'knn', auroc, rejection, n: 17, margin: { auroc: margin, rejection: margin } } },
    });
    const exec = promisify(execFile);
    const tsx = path.join(repoRoot(), 'node_modules', '.bin', 'tsx');
    const cli = path.join(repoRoot(), 'packages', 'evaluate', 'src', 'cli', 'evaluate.ts');
    const check = async (b: object) => {
      const file = path.join(root, `baseline-${Math.random().toString(36).slice(2)}.json`);
      await fs.writeFile(file, JSON.stringify(b));
      const args = [cli, '--run', run.runDir, '--check', '--baseline', file, '--ood-data', src, '--robustness', 'off', '--no-gradcam', '--no-report', '--backend', 'wasm'];
      return exec(tsx, args).then(
        (r) => ({ code: 0, stdout: r.stdout }),
        (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
      );
    };
    const pass = await check(baseline(1, 1, 1));
    expect(pass.stdout).toMatch(/^ok {3}lo: .* left out other \(17 photos, knn(\+silhouette)?\): AUROC [\d.]+ >= 1\.000 - 1\.000 = 0\.000/m);
    expect(pass.code).toBe(0);
    // Baseline 1 and no margin: a 3-epoch model that never saw "other" (drawn like big) is not perfect.
    const fail = await check(baseline(1, 1, 0));
    expect(fail.stdout).toMatch(/^FAIL lo: /m);
    expect(fail.code).toBe(1);
    // A task judged over seeds: with a run for each seed (here the one seed 3), the mean over them;
    // with a seed missing, the latest run alone, said so.
    const seeded = (seeds: number[]) => { const b = baseline(1, 1, 1); return { ...b, ood: { lo: { ...b.ood.lo, seeds } } }; };
    const mean = await check(seeded([3]));
    expect(mean.stdout).toMatch(/^ok {3}lo: left out other \(17 photos, knn(\+silhouette)?\), mean over seeds: AUROC [\d.]+ >= 1\.000 - 1\.000 = 0\.000.*\(seed: AUROC\/rejected 3: /m);
    const partial = await check(seeded([3, 4]));
    expect(partial.stdout).toMatch(/^ok {3}lo: .* \(one run, seed 3: the baseline is a mean over seeds 3, 4; runs for 1 of them found\)$/m);

    // The study refits the detector training stored (same photos, same fit, silhouette part included)
    // and counts rejections by the rule predict and serve apply.
    const stored = (await readOodFile(path.join(run.runDir, 'model')))!;
    const near = holdout.unknownFiles.map((u) => u.file);
    const [m] = (await evaluateOodRun(run.runDir, near, { methods: ['knn'], farPerKind: 1 })).methods;
    expect(m!.detector).toBe(detectorMethod(stored));
    expect(m!.threshold).toBeCloseTo(stored.threshold, 5);
    const [alone] = (await evaluateOodRun(run.runDir, near, { methods: ['knn'], farPerKind: 1, silhouette: false })).methods;
    expect(alone!.detector).toBe('knn');
    expect(alone!.silhouette).toEqual({ note: 'no silhouette part: switched off (--no-silhouette, or by the data recipe)' });
    expect(alone!.aurocNear).toBe(m!.aurocNear); // AUROC is on the feature score either way
    if (stored.silhouette) {
      expect('threshold' in m!.silhouette && m!.silhouette.threshold).toBeCloseTo(stored.silhouette.threshold, 5);
      expect(m!.nearRejected).toBeGreaterThanOrEqual((m!.silhouette as { nearRejected: number }).nearRejected);
    }
  });
});

describe('stratifiedSample', () => {
  it('keeps each class its share, is seeded, and returns everything when under the cap', () => {
    const s = [...Array.from({ length: 30 }, (_, i) => ({ label: 0, i })), ...Array.from({ length: 10 }, (_, i) => ({ label: 1, i: 30 + i }))];
    const a = stratifiedSample(s, 12, 0);
    expect(a.length).toBe(12);
    expect(a.filter((x) => x.label === 1).length).toBe(3);
    expect(stratifiedSample(s, ROBUSTNESS_BUDGETS.quick.maxPhotos, 0).length).toBe(ROBUSTNESS_BUDGETS.quick.maxPhotos);
    expect(stratifiedSample(s, 12, 0)).toEqual(a);
    expect(stratifiedSample(s, 12, 1)).not.toEqual(a);
    expect(stratifiedSample(s.slice(0, 5), 12, 0)).toEqual(s.slice(0, 5));
  });
});
