#!/usr/bin/env tsx
// pnpm dataset:demo [--out datasets/demo] [--seed N] [--train-per-class N] [--test-per-class N] [--width W] [--height H]
import { Command } from 'commander';
import { addSettingOptions, DATASET_DEMO_SETTINGS, defaultDemoDir, resolveUserPath, runCli } from '@parts/cli';
import { generateDemoDataset } from '../demo';

const program = addSettingOptions(
  new Command('dataset:demo')
    .description('Generate the embedded demo dataset: photo-like pictures of a big and a small bolt, deterministic from the seed.'),
  DATASET_DEMO_SETTINGS,
);

runCli(
  program,
  async (opts: { out?: string; seed: number; trainPerClass?: number; testPerClass?: number; width: number; height: number }) => {
    const out = opts.out ? resolveUserPath(opts.out) : defaultDemoDir();
    const started = Date.now();
    const r = await generateDemoDataset(out, opts);
    console.log(`demo dataset: ${r.count} images of ${r.classes.join(', ')} in ${r.root} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  },
  { errorPrefix: 'dataset:demo' },
);
