#!/usr/bin/env tsx
// pnpm data:check [--data DIR] [--skip-bad] [--json] [--val-split F] [--seed N] [--near-dup-threshold X]
import { existsSync } from 'node:fs';
import { SingleBar, Presets } from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import { checkDataset, formatDatasetReport } from '../check';
import { generateDemoDataset } from '../demo';
import { listDataset } from '../list';
import { cliArgv, defaultDemoDir, resolveUserPath } from '../paths';

const num = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got "${v}"`);
  return n;
};

const program = new Command('data:check')
  .description('Report images per class and split, imbalance, image sizes, unreadable files and duplicates/leakage.')
  .option('--data <dir>', 'dataset root (<root>/<split>/<class>/<image>); default: the demo dataset, generated if missing')
  .option('--skip-bad', 'skip and list unreadable files instead of failing', false)
  .option('--json', 'print the report as JSON', false)
  .option('--val-split <fraction>', 'validation fraction carved from train when there is no val folder', num('--val-split'), 0)
  .option('--seed <n>', 'seed of generated splits', num('--seed'), 42)
  .option('--near-dup-threshold <x>', 'similarity in (0, 1] at which images count as near-duplicates', num('--near-dup-threshold'), 0.9)
  .action(async (opts: { data?: string; skipBad: boolean; json: boolean; valSplit: number; seed: number; nearDupThreshold: number }) => {
    let root: string;
    if (opts.data) {
      root = resolveUserPath(opts.data);
    } else {
      root = defaultDemoDir();
      if (!existsSync(root)) {
        console.error(`no --data given; generating the demo dataset in ${root}`);
        await generateDemoDataset(root);
      }
    }
    const index = await listDataset(root, { skipBad: opts.skipBad, valSplit: opts.valSplit, seed: opts.seed });
    const total = Object.values(index.splits).reduce((n, s) => n + s.length, 0);
    const bar = !opts.json && process.stderr.isTTY ? new SingleBar({ format: 'checking {bar} {value}/{total} images', stream: process.stderr }, Presets.shades_classic) : null;
    bar?.start(total, 0);
    const report = await checkDataset(index, { nearDupThreshold: opts.nearDupThreshold, onProgress: (done) => bar?.update(done) });
    bar?.stop();
    console.log(opts.json ? JSON.stringify(report, null, 2) : formatDatasetReport(report));
  });

program.parseAsync(cliArgv()).catch((e: Error) => {
  console.error(`data:check: ${e.message}`);
  process.exit(1);
});
