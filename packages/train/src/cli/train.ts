#!/usr/bin/env tsx
import { Command, Option } from 'commander';
import { resolveUserPath } from '@parts/data';
import { train, TRAIN_DEFAULTS } from '../index';
import { defaultData, int, num, runCli } from './common';

const program = new Command('train')
  .description('Train an image classifier and write a run folder (config, history, model, metrics).')
  .option('--arch <name>', 'architecture (tinyvgg, vgg16, resnet50, inception, efficientnet)', 'tinyvgg')
  .addOption(new Option('--mode <mode>', 'training mode').choices(['scratch', 'extract', 'feature-extraction', 'finetune']).default('scratch'))
  .option('--data <dir>', 'dataset root <root>/<split>/<class>/<image> (default: the demo dataset, generated if missing)')
  .option('--epochs <n>', 'maximum epochs', int, TRAIN_DEFAULTS.epochs)
  .option('--batch-size <n>', 'batch size', int, TRAIN_DEFAULTS.batchSize)
  .option('--img-size <n>', 'input size in pixels (square)', int, TRAIN_DEFAULTS.imgSize)
  .option('--lr <x>', 'learning rate', num, TRAIN_DEFAULTS.lr)
  .option('--seed <n>', 'random seed', int, TRAIN_DEFAULTS.seed)
  .option('--val-split <f>', 'fraction of train held out for validation/early stopping', num, TRAIN_DEFAULTS.valSplit)
  .addOption(new Option('--backend <b>', 'compute backend').choices(['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu']).default('auto'))
  .option('--out <dir>', 'parent folder of run folders (default: <repo>/runs)')
  .option('--weights <w>', "base weights: imagenet, none, or a Keras .h5 path", TRAIN_DEFAULTS.weights)
  .option('--unfreeze <n>', 'fine-tuning: number of top base layers to unfreeze', int)
  .option('--patience <n>', 'early-stopping patience in epochs (0 = off)', int, TRAIN_DEFAULTS.patience)
  .option('--no-class-weights', 'do not weight the loss by class imbalance')
  .option('--no-augment', 'no data augmentation')
  .addOption(new Option('--fit <policy>', 'resize policy: cover = center crop, contain = letterbox').choices(['cover', 'contain']).default(TRAIN_DEFAULTS.fit))
  .option('--label-smoothing <x>', 'label smoothing', num, TRAIN_DEFAULTS.labelSmoothing)
  .option('--name <suffix>', 'suffix of the run folder name')
  .option('--skip-bad', 'skip unreadable images instead of stopping')
  .option('--quiet', 'no progress output');

runCli(program, async (o) => {
  const data = o.data ? resolveUserPath(o.data) : await defaultData();
  const result = await train({
    arch: o.arch,
    mode: o.mode === 'feature-extraction' ? 'extract' : o.mode,
    data,
    epochs: o.epochs,
    batchSize: o.batchSize,
    imgSize: o.imgSize,
    lr: o.lr,
    seed: o.seed,
    valSplit: o.valSplit,
    backend: o.backend,
    out: o.out ? resolveUserPath(o.out) : undefined,
    weights: o.weights === 'imagenet' || o.weights === 'none' ? o.weights : resolveUserPath(o.weights),
    unfreeze: o.unfreeze,
    patience: o.patience,
    classWeights: o.classWeights,
    augment: o.augment,
    fit: o.fit,
    labelSmoothing: o.labelSmoothing,
    name: o.name,
    skipBad: Boolean(o.skipBad),
    quiet: Boolean(o.quiet),
  });
  process.stdout.write(result.runDir + '\n');
});
