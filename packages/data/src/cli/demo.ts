#!/usr/bin/env tsx
// pnpm dataset:demo [--out datasets/demo] [--seed N] [--train-per-class N] [--test-per-class N] [--width W] [--height H]
import { Command, InvalidArgumentError } from 'commander';
import { generateDemoDataset } from '../demo';
import { cliArgv, defaultDemoDir, resolveUserPath } from '../paths';

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be an integer, got "${v}"`);
  return n;
};

const program = new Command('dataset:demo')
  .description('Generate the embedded demo dataset: photo-like pictures of a big and a small bolt, deterministic from the seed.')
  .option('--out <dir>', 'output folder (default: <repo>/datasets/demo)')
  .option('--seed <n>', 'seed', int('--seed'), 1)
  .option('--train-per-class <n>', 'train images per class (default 27 big / 13 small)', int('--train-per-class'))
  .option('--test-per-class <n>', 'test images per class (default 13 big / 7 small)', int('--test-per-class'))
  .option('--width <px>', 'image width', int('--width'), 640)
  .option('--height <px>', 'image height', int('--height'), 480)
  .action(async (opts: { out?: string; seed: number; trainPerClass?: number; testPerClass?: number; width: number; height: number }) => {
    const out = opts.out ? resolveUserPath(opts.out) : defaultDemoDir();
    const started = Date.now();
    const r = await generateDemoDataset(out, opts);
    console.log(`demo dataset: ${r.count} images of ${r.classes.join(', ')} in ${r.root} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  });

program.parseAsync(cliArgv()).catch((e: Error) => {
  console.error(`dataset:demo: ${e.message}`);
  process.exit(1);
});
