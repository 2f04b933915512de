#!/usr/bin/env tsx
// pnpm rollback [--to <model id>] [--list]: put an earlier promoted model back in service.
// Without --to, the previous model (model.prev) and the current one swap places; with --to, any
// model of the promotion history (model-history.ts). Both are atomic renames of complete folders.
import { Command } from 'commander';
import { addSettingOptions, ROLLBACK_SETTINGS, runCli, servedModelDir } from '@parts/cli';
import { listHistoryModels, readHistory, rollbackTo } from '../model-history';
import { readModelCard, rollback } from '../promote';
import { registryHistory } from '@parts/serve';
import { resolveUserPath } from './common';

const program = addSettingOptions(
  new Command('rollback')
    .description('Return to an earlier promoted model: the previous one (default), or any model of the promotion history with --to <model id>; --list shows them.'),
  ROLLBACK_SETTINGS,
);

runCli(
  program,
  async (o: { to?: string; list?: boolean; target?: string; db?: string }) => {
    const target = o.target ? resolveUserPath(o.target) : servedModelDir();
    if (o.list) {
      const serving = (await readModelCard(target).catch(() => null))?.runId;
      const models = await listHistoryModels(target);
      if (!models.length) process.stdout.write(`no promotion history beside ${target}\n`);
      for (const m of models) {
        const acc = m.card ? `${m.card.metrics.correct}/${m.card.metrics.n} on ${m.card.metrics.dataRoot}` : 'no card';
        process.stdout.write(`${m.runId === serving ? '*' : ' '} ${m.runId}\tpromoted ${m.card?.promotedAt ?? '?'}\t${m.card?.labels.join(',') ?? ''}\t${acc}\n`);
      }
      for (const e of (await readHistory(target)).events) process.stdout.write(`  ${e.at} ${e.action} ${e.runId}${e.previous ? ` (was ${e.previous})` : ''}\n`);
      if (o.db) {
        process.stdout.write('model registry (--db):\n');
        for (const p of await registryHistory(o.db)) process.stdout.write(`  ${p.at} ${p.action} ${p.runId} ${p.modelHash.slice(0, 12)} by ${p.actor}${p.note ? ` (${p.note})` : ''}\n`);
      }
      return 0;
    }
    const res = o.to ? await rollbackTo(o.to, { target, db: o.db }) : await rollback({ target, db: o.db });
    process.stdout.write(res.message + '\n');
    return 0;
  },
  { errorPrefix: 'rollback' },
);
