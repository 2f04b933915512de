#!/usr/bin/env tsx
// pnpm evaluate: evaluate run folders, write a report, optionally promote the best and/or run the CI gate.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { BACKEND_NAMES, initBackend } from '@parts/backend';
import { NEXT_STEP, runCli } from '@parts/cli';
import { listRunDirs } from '@parts/train';
import { evaluateRuns } from '../pipeline';
import { writeReport } from '../report';
import { promoteBest } from '../promote';
import { checkAgainstBaseline, readBaseline } from '../check';
import { collect, fromRepo, resolveUserPath } from './common';

const program = new Command('evaluate')
  .description('Evaluate run folders on a dataset split, write reports/<timestamp>/ (index.html, report.md, leaderboard.json), optionally promote the best run and check accuracy against a baseline.')
  .option('--runs <dir>', 'folder of run folders (default: <repo>/runs)')
  .option('--run <dir>', 'evaluate only this run folder (repeatable)', collect, [])
  .option('--data <dir>', "dataset root (default: each run's training dataset)")
  .addOption(new Option('--split <name>', 'split to evaluate').choices(['test', 'val', 'train']).default('test'))
  .option('--out <dir>', 'parent folder of report folders (default: <repo>/reports)')
  .addOption(new Option('--backend <b>', 'compute backend').choices(BACKEND_NAMES).default('auto'))
  .option('--no-report', 'do not write a report folder')
  .option('--promote', "promote the best run to packages/serve/model (only with --split test; runs evaluated on other data than their own are not considered)")
  .option('--force', 'with --promote: promote even if worse than the model in service')
  .option('--check', "fail (exit 1) when a run's own test accuracy is below the baseline minus one test image (only with --split test)")
  .option('--baseline <file>', 'baseline for --check (default: <repo>/evaluation/baseline.json)');

runCli(program, async (o) => {
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
    if (!res.ok) {
      process.stderr.write(`accuracy check failed against ${file}\n`);
      return 1;
    }
    process.stdout.write(`accuracy check passed (${file})\n`);
  }
  return runs.some((r) => r.status === 'ok') ? 0 : 1;
});
