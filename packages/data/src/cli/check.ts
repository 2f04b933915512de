#!/usr/bin/env tsx
// pnpm data:check [--data DIR] [--skip-bad] [--json] [--val-split F] [--seed N] [--near-dup-threshold X]
import { SingleBar, Presets } from 'cli-progress';
import { Command } from 'commander';
import { checkDataset, formatDatasetReport } from '../check';
import { addSettingOptions, DATA_CHECK_SETTINGS, runCli } from '@parts/cli';
import { dataOrDemo } from '../demo-data';
import { listDataset } from '../list';

const program = addSettingOptions(
  new Command('data:check')
    .description('Report images per class and split, imbalance, image sizes, unreadable files and duplicates/leakage.'),
  DATA_CHECK_SETTINGS,
);

runCli(
  program,
  async (opts: { data?: string; skipBad: boolean; json: boolean; valSplit: number; seed: number; nearDupThreshold: number }) => {
    const root = await dataOrDemo(opts.data);
    const index = await listDataset(root, { skipBad: opts.skipBad, valSplit: opts.valSplit, seed: opts.seed });
    const total = Object.values(index.splits).reduce((n, s) => n + s.length, 0);
    const bar = !opts.json && process.stderr.isTTY ? new SingleBar({ format: 'checking {bar} {value}/{total} images', stream: process.stderr }, Presets.shades_classic) : null;
    bar?.start(total, 0);
    const report = await checkDataset(index, { nearDupThreshold: opts.nearDupThreshold, onProgress: (done) => bar?.update(done) });
    bar?.stop();
    console.log(opts.json ? JSON.stringify(report, null, 2) : formatDatasetReport(report));
  },
  { errorPrefix: 'data:check' },
);
