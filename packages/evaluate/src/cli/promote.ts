#!/usr/bin/env tsx
// pnpm promote: put a run's model into service (packages/serve/model), or roll back to the previous one.
// Exit status: 0 when the command did its job, whether or not a model was promoted (the message says
// why not: already in service, worse than the served model, not comparable); 1 only for errors
// (bad arguments, missing or unreadable files, no evaluated run at all, a failed copy).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { initBackend } from '@parts/backend';
import { addSettingOptions, NEXT_STEP, PROMOTE_SETTINGS, runCli } from '@parts/cli';
import { EVALUATION_JSON, evaluateRun, readEvaluation } from '../evaluation';
import { listRunDirs } from '@parts/train';
import { promoteBest, promoteEvaluated, rollback } from '../promote';
import type { ReportRun } from '../leaderboard';
import { fromRepo, resolveUserPath } from './common';

const program = addSettingOptions(
  new Command('promote')
    .description(
    "Promote a run to packages/serve/model (with model-card.json; the previous model is kept in model.prev), or roll back. Without --run, promotes the best already-evaluated run in runs/. Promotion uses only each run's evaluation.json (its own test split). Exits 0 when nothing went wrong, promoted or not; 1 on errors.",
  ),
  PROMOTE_SETTINGS,
);

runCli(program, async (o) => {
  const target = o.target ? resolveUserPath(o.target) : undefined;
  if (o.rollback) {
    if (o.run) throw new Error('--rollback and --run cannot be combined');
    process.stdout.write((await rollback({ target, db: o.db })).message + '\n');
    return 0;
  }
  if (o.run) {
    const runDir = resolveUserPath(o.run);
    if (!existsSync(runDir)) throw new Error(`--run: ${runDir} does not exist`);
    let evaluation;
    if (existsSync(path.join(runDir, EVALUATION_JSON))) {
      evaluation = await readEvaluation(runDir);
      if (o.parity) await initBackend(o.backend); // the parity record classifies a few test photos
    } else {
      await initBackend(o.backend);
      evaluation = await evaluateRun(runDir);
    }
    const res = await promoteEvaluated(runDir, evaluation, { target, force: Boolean(o.force), parity: o.parity, db: o.db });
    process.stdout.write(res.message + '\n');
    return 0;
  }
  const runsDir = o.runs ? resolveUserPath(o.runs) : fromRepo('runs');
  const runs: ReportRun[] = [];
  const dirs = await listRunDirs(runsDir);
  if (dirs.length === 0) throw new Error(`no run folders in ${runsDir}: ${NEXT_STEP.noRuns}, then \`pnpm evaluate --promote\` (or pass --run DIR)`);
  for (const dir of dirs) {
    if (!existsSync(path.join(dir, EVALUATION_JSON))) continue;
    try {
      const evaluation = await readEvaluation(dir);
      runs.push({ runId: evaluation.runId, runDir: dir, status: 'ok', evaluation });
    } catch (e) {
      // One stale or broken run folder should not block promoting among the others; say so.
      process.stderr.write(`warning: not considered: ${(e as Error).message}\n`);
    }
  }
  if (runs.length === 0) throw new Error(`no usable evaluated runs in ${runsDir}: run \`pnpm evaluate --promote\` (evaluates and promotes), or pass --run DIR`);
  if (o.parity) await initBackend(o.backend); // the parity record classifies a few test photos
  const res = await promoteBest(runs, { target, force: Boolean(o.force), parity: o.parity, db: o.db });
  process.stdout.write(res.message + '\n');
  return 0;
});
