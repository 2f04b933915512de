#!/usr/bin/env tsx
// pnpm dataset:demo [--out datasets/demo] [--seed N] [--train-per-class N] [--test-per-class N] [--width W] [--height H]
import { Command } from 'commander';
import { defaultDemoDir, int, resolveUserPath, runCli } from '@parts/cli';
import { generateDemoDataset } from '../demo';

const program = new Command('dataset:demo')
  .description('Generate the embedded demo dataset: photo-like pictures of a big and a small bolt, deterministic from the seed.')
  .option('--out <dir>', 'output folder (default: <repo>/datasets/demo)')
  .option('--seed <n>', 'seed', int, 1)
  .option('--train-per-class <n>', 'train images per class (default 27 big / 13 small)', int)
  .option('--test-per-class <n>', 'test images per class (default 13 big / 7 small)', int)
  .option('--width <px>', 'image width', int, 640)
  .option('--height <px>', 'image height', int, 480);

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
