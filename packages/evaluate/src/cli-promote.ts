#!/usr/bin/env tsx
// pnpm promote: put a run's model into service (packages/serve/model), or roll back to the previous one.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { initBackend } from '@parts/backend';
import { EVALUATION_JSON, evaluateRun, readEvaluation } from './evaluation';
import { listRunDirs } from './runs';
import { promoteBest, promoteEvaluated, rollback } from './promote';
import type { ReportRun } from './leaderboard';
import { fromRepo, resolveUserPath, runCli } from './cli-common';

const program = new Command('promote')
  .description('Promote a run to packages/serve/model (with model-card.json; the previous model is kept in model.prev), or roll back. Without --run, promotes the best already-evaluated run in runs/.')
  .option('--run <dir>', 'run folder to promote (evaluated first if it has no evaluation.json)')
  .option('--runs <dir>', 'without --run: folder of evaluated run folders (default: <repo>/runs)')
  .option('--rollback', 'swap packages/serve/model with model.prev')
  .option('--force', 'promote even if the run evaluates worse than the model in service')
  .option('--data <dir>', "dataset for evaluating a run without evaluation.json (default: the run's own)")
  .option('--target <dir>', 'served model folder (default: <repo>/packages/serve/model)')
  .addOption(new Option('--backend <b>', 'compute backend for evaluation').choices(['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu']).default('auto'));

runCli(program, async (o) => {
  const target = o.target ? resolveUserPath(o.target) : undefined;
  if (o.rollback) {
    if (o.run) throw new Error('--rollback and --run cannot be combined');
    process.stdout.write((await rollback({ target })).message + '\n');
    return 0;
  }
  if (o.run) {
    const runDir = resolveUserPath(o.run);
    let evaluation;
    if (existsSync(path.join(runDir, EVALUATION_JSON)) && !o.data) {
      evaluation = await readEvaluation(runDir);
    } else {
      await initBackend(o.backend);
      evaluation = await evaluateRun(runDir, { data: o.data ? resolveUserPath(o.data) : undefined });
    }
    const res = await promoteEvaluated(runDir, evaluation, { target, force: Boolean(o.force) });
    process.stdout.write(res.message + '\n');
    return res.promoted || res.message.includes('already in service') ? 0 : 1;
  }
  const runsDir = o.runs ? resolveUserPath(o.runs) : fromRepo('runs');
  const runs: ReportRun[] = [];
  for (const dir of await listRunDirs(runsDir)) {
    if (!existsSync(path.join(dir, EVALUATION_JSON))) continue;
    const evaluation = await readEvaluation(dir);
    runs.push({ runId: evaluation.runId, runDir: dir, status: 'ok', evaluation });
  }
  if (runs.length === 0) throw new Error(`no evaluated runs in ${runsDir}: run pnpm evaluate first, or pass --run DIR`);
  const res = await promoteBest(runs, { target, force: Boolean(o.force) });
  process.stdout.write(res.message + '\n');
  return 0;
});
