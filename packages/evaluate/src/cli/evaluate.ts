#!/usr/bin/env tsx
// pnpm evaluate: evaluate run folders, write a report, optionally promote the best and/or run the CI gate.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { initBackend } from '@parts/backend';
import { addSettingOptions, EVALUATE_SETTINGS, NEXT_STEP, runCli } from '@parts/cli';
import { listRunDirs, readRunConfig } from '@parts/train';
import { evaluateRuns } from '../pipeline';
import { writeReport } from '../report';
import { promoteBest } from '../promote';
import { checkAgainstBaseline, readBaseline } from '../check';
import { fromRepo, resolveUserPath } from './common';
import { checkOodFigures, checkOodSeedMean, measureLeaveOut, runMatchesOodTask, type OodCheckLine } from '../ood-check';
import { listDataset } from '@parts/data';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { parseCurveSizes, runLearningCurve } from '../learning-curve';
import { writeLearningCurveReport } from '../learning-curve-report';

const program = addSettingOptions(
  new Command('evaluate')
    .description('Evaluate run folders on a dataset split, write reports/<timestamp>/ (index.html, report.md, leaderboard.json), optionally promote the best run and check accuracy against a baseline.'),
  EVALUATE_SETTINGS,
);

runCli(program, async (o) => {
  if (o.learningCurve) {
    if (!o.data) throw new Error('--learning-curve needs --data DIR: the dataset whose train split is subsampled and whose test split scores every model');
    const sizes = parseCurveSizes(o.curveSizes);
    await initBackend(o.backend);
    const result = await runLearningCurve({
      data: resolveUserPath(o.data),
      sizes,
      seed: o.seed,
      out: o.curveRuns ? resolveUserPath(o.curveRuns) : fromRepo('runs', 'learning-curve'),
      trainOverrides: { backend: o.backend },
      log: (m) => process.stderr.write(m + '\n'),
    });
    const dir = await writeLearningCurveReport(result, o.out ? resolveUserPath(o.out) : fromRepo('reports'));
    if (result.projection) process.stdout.write(`projected test accuracy at ${Math.round(result.projection.n)} photos per class: ${(100 * result.projection.accuracy).toFixed(1)}%\n`);
    process.stdout.write(`report: ${path.join(dir, 'index.html')}\n`);
    return 0;
  }
  // The baseline and the promotion rule are about test-split accuracy: refuse before evaluating anything.
  for (const flag of ['check', 'promote'] as const) {
    if (o[flag] && o.split !== 'test') {
      throw new Error(`--${flag} uses test-split evaluations only; it cannot be combined with --split ${o.split} (evaluate that split without --${flag})`);
    }
  }
  const runDirs: string[] = o.run.map(resolveUserPath);
  const runsDir = o.runs ? resolveUserPath(o.runs) : fromRepo('runs');
  // Nothing to evaluate: say so before a backend starts.
  const missingRuns = runDirs.filter((d) => !existsSync(d));
  if (missingRuns.length) throw new Error(`--run: ${missingRuns.join(', ')} does not exist; run folders are in ${runsDir}`);
  if (runDirs.length === 0 && (await listRunDirs(runsDir)).length === 0) throw new Error(`no run folders in ${runsDir}: ${NEXT_STEP.noRuns} (or pass --runs DIR / --run DIR)`);
  if (o.baseline && !existsSync(resolveUserPath(o.baseline))) throw new Error(`--baseline: ${resolveUserPath(o.baseline)} does not exist`);
  await initBackend(o.backend);
  const runs = await evaluateRuns({
    runDirs,
    runsDir: runDirs.length ? undefined : runsDir,
    data: o.data ? resolveUserPath(o.data) : undefined,
    split: o.split,
    robustness: o.robustness,
    gradcam: o.gradcam,
    engine: o.engine,
    log: (m) => process.stderr.write(m + '\n'),
  });
  if (runs.length === 0) throw new Error(`no run folders found in ${runsDir}: ${NEXT_STEP.noRuns} (or pass --run DIR)`);

  if (o.report) {
    const report = await writeReport(runs, { outRoot: o.out ? resolveUserPath(o.out) : fromRepo('reports') });
    for (const w of report.warnings) process.stderr.write(`warning: ${w}\n`);
    process.stdout.write(`report: ${path.join(report.dir, 'index.html')}\n`);
  }
  if (o.promote) {
    const res = await promoteBest(runs, { force: Boolean(o.force) });
    process.stdout.write(res.message + '\n');
  }
  if (o.check) {
    const file = o.baseline ? resolveUserPath(o.baseline) : fromRepo('evaluation', 'baseline.json');
    const baseline = await readBaseline(file);
    const evaluations = runs.flatMap((r) => (r.evaluation ? [r.evaluation] : []));
    const res = checkAgainstBaseline(evaluations, baseline, { latestOnly: runDirs.length === 0 });
    for (const i of res.ignored) process.stdout.write(i.message + '\n');
    for (const l of res.lines) process.stdout.write(l.message + '\n');
    const oodLines = await checkOodTasks(baseline, runs.flatMap((r) => (r.status === 'ok' && r.runDir ? [r.runDir] : [])), o.oodData ? resolveUserPath(o.oodData) : undefined);
    for (const l of oodLines) process.stdout.write(l.message + '\n');
    if (!res.ok || oodLines.some((l) => !l.pass)) {
      process.stderr.write(`accuracy check failed against ${file}\n`);
      return 1;
    }
    process.stdout.write(`accuracy check passed (${file})\n`);
  }
  return runs.some((r) => r.status === 'ok') ? 0 : 1;
});

/**
 * The baseline's leave-classes-out tasks, on the latest evaluated run trained for each (same arch,
 * the source dataset's classes without the left-out ones); a task without such a run is skipped.
 */
async function checkOodTasks(baseline: Awaited<ReturnType<typeof readBaseline>>, runDirs: string[], oodData?: string): Promise<OodCheckLine[]> {
  const lines: OodCheckLine[] = [];
  for (const [name, task] of Object.entries(baseline.ood ?? {})) {
    const source = oodData ?? path.resolve(fromRepo(), '..', 'shared', 'datasets', task.dataset);
    let classes: string[];
    try {
      classes = (await listDataset(source, { validate: false })).classes;
    } catch (e) {
      lines.push({ task: name, runId: null, pass: true, message: `skip ${name}: cannot list its dataset ${source} (${(e as Error).message}); give --ood-data DIR` });
      continue;
    }
    const matching: string[] = [];
    for (const d of runDirs) if (await runMatchesOodTask(d, task, classes)) matching.push(d);
    matching.sort();
    const latest = matching.at(-1);
    if (!latest) {
      lines.push({ task: name, runId: null, pass: true, message: `skip ${name}: no evaluated ${task.arch} run trained on ${task.dataset} without ${task.leaveOut.join(', ')}${task.lightNorm ? ` with light normalisation ${task.lightNorm}` : ''}` });
      continue;
    }
    // A task judged over seeds: the latest run of each seed when there is one for every seed, else
    // the latest run alone, said to be one seed of the mean.
    const seedOf = async (d: string) => (await readRunConfig(d).catch(() => undefined))?.options?.seed;
    const perSeed: string[] = [];
    for (const seed of task.seeds ?? []) {
      let found: string | undefined;
      for (const d of matching) if ((await seedOf(d)) === seed) found = d;
      if (found) perSeed.push(found);
    }
    const work = await mkdtemp(path.join(os.tmpdir(), 'parts-ood-check-'));
    try {
      if (task.seeds && perSeed.length === task.seeds.length) {
        const figures = [];
        for (const d of perSeed) figures.push(await measureLeaveOut(d, task, source, path.join(work, 'data')));
        lines.push(checkOodSeedMean(name, task, figures));
      } else {
        const line = checkOodFigures(name, task, await measureLeaveOut(latest, task, source, path.join(work, 'data')));
        if (task.seeds) line.message += ` (one run, seed ${await seedOf(latest)}: the baseline is a mean over seeds ${task.seeds.join(', ')}; runs for ${perSeed.length} of them found)`;
        lines.push(line);
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
  return lines;
}
