#!/usr/bin/env tsx
import path from 'node:path';
import { existsSync } from 'node:fs';
import { Command } from 'commander';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, tuneWebGPUKernels } from '@parts/backend';
import { ensureDemoDataset } from '@parts/data';
import { int, num, repoRoot, resolveUserPath, runCli } from '@parts/cli';
import { listArchs } from '@parts/models';
import { benchDecode, benchModel, formatBench, type BenchRecord } from '../bench';

const program = new Command('bench')
  .description('Throughput of forward pass and training step per backend and architecture, and of image decoding.')
  .option('--backend <list>', 'comma-separated backends to measure (default: the one auto picks, then wasm and cpu)')
  .option('--arch <list>', "comma-separated architectures, or 'all'", 'tinyvgg')
  .option('--img-size <n>', 'input size', int, 256)
  .option('--batch <n>', 'batch size (the pure-JS cpu backend uses 1)', int, 8)
  .option('--seconds <x>', 'time per measurement', num, 3)
  .option('--data <dir>', 'photos for the decode benchmark (default: ../shared/datasets/parts, else the demo data)')
  .option('--json', 'one JSON object per line');

runCli(program, async (o) => {
  const emit = (r: BenchRecord) => process.stdout.write((o.json ? JSON.stringify(r) : formatBench(r)) + '\n');
  // Without --backend: whichever auto picks, then wasm and cpu for comparison.
  const wanted: string[] = o.backend
    ? o.backend.split(',')
    : [...new Set([(await initBackend('auto', (m) => process.stderr.write(m + '\n'))).name, 'wasm', 'cpu'])];
  const archs: string[] = o.arch === 'all' ? listArchs().map((a) => a.name) : o.arch.split(',');
  for (const backend of wanted) {
    try {
      await initBackend(backend as never, (m) => process.stderr.write(m + '\n'));
    } catch (e) {
      process.stderr.write(`skip backend ${backend}: ${(e as Error).message}\n`);
      continue;
    }
    const slow = tf.getBackend() === 'cpu';
    for (const arch of archs) {
      const recs = await benchModel({ arch, imgSize: o.imgSize, batch: slow ? 1 : o.batch, minSeconds: o.seconds, maxIters: slow ? 1 : 1000,
        tune: () => tuneWebGPUKernels({ log: (m) => process.stderr.write(m + '\n') }) });
      recs.forEach(emit);
    }
  }
  const shared = path.resolve(repoRoot(), '../shared/datasets/parts');
  const photos = o.data ? resolveUserPath(o.data) : existsSync(shared) ? shared : await ensureDemoDataset();
  emit(await benchDecode(photos, o.imgSize, o.seconds));
});
