#!/usr/bin/env tsx
// pnpm study: the original study's grid (Tiny VGG scratch; VGG16, ResNet50, InceptionV3,
// EfficientNet × extract and finetune) → evaluation → report → promotion of the best run.
import { Command, InvalidArgumentError } from 'commander';
import { dataOrDemo } from '@parts/data';
import { addSettingOptions, defaultDemoDir, runCli, STUDY_SETTINGS } from '@parts/cli';
import { resolveTrainOptions } from '@parts/train';
import { existsSync } from 'node:fs';
import { runStudy, STUDY_GRID } from '../study';
import type { GridCell } from '../study';
import { fromRepo, resolveUserPath } from './common';

function parseGrid(v: string): GridCell[] {
  return v.split(',').map((s) => {
    const [arch, mode] = s.trim().split(':');
    const cell = STUDY_GRID.find((c) => c.arch === arch && c.mode === mode);
    if (!cell) throw new InvalidArgumentError(`'${s}' is not in the study grid (${STUDY_GRID.map((c) => `${c.arch}:${c.mode}`).join(', ')})`);
    return cell;
  });
}

const program = addSettingOptions(
  new Command('study')
    .description('Train the whole study grid, evaluate every run, write a report and promote the best model.'),
  STUDY_SETTINGS, { parsers: { only: parseGrid } }
);

runCli(program, async (o) => {
  const weights = o.weights === 'imagenet' || o.weights === 'none' ? o.weights : resolveUserPath(o.weights);
  // Every cell's options are checked before the demo dataset is generated or anything trains.
  const given = o.data ? resolveUserPath(o.data) : undefined;
  if (given && !existsSync(given)) throw new Error(`--data: ${given} does not exist; leave out --data to use the demo dataset`);
  if (weights !== 'imagenet' && weights !== 'none' && !existsSync(weights)) throw new Error(`--weights: ${weights} does not exist (imagenet, none, or a Keras .h5 file)`);
  for (const cell of o.only ?? STUDY_GRID) {
    resolveTrainOptions(
      { arch: cell.arch, mode: cell.mode, data: given ?? defaultDemoDir(), epochs: o.epochs, imgSize: o.imgSize, batchSize: o.batchSize, seed: o.seed, weights: cell.mode === 'scratch' ? 'none' : weights },
      '.',
    );
  }
  const data = await dataOrDemo(o.data);
  const res = await runStudy({
    data,
    weights,
    epochs: o.epochs,
    imgSize: o.imgSize,
    batchSize: o.batchSize,
    seed: o.seed,
    backend: o.backend,
    grid: o.only,
    out: o.out ? resolveUserPath(o.out) : fromRepo('runs'),
    reportsOut: o.reports ? resolveUserPath(o.reports) : fromRepo('reports'),
    promote: o.promote,
    force: Boolean(o.force),
    trainOverrides: { quiet: !o.verbose },
  });
  return res.runs.some((r) => r.status === 'ok') ? 0 : 1;
});
