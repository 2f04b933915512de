#!/usr/bin/env tsx
import { Command, Option } from 'commander';
import { crossValidate, formatCvResult } from '../cross-validate';
import { foldCount } from './folds-option';
import { canonicalTrainMode, getArch, listArchs, TRAIN_MODE_ALIASES, TRAIN_MODES, type ArchSpec } from '@parts/models';
import { BACKEND_NAMES } from '@parts/backend';
import { dataOrDemo } from '@parts/data';
import { defaultDemoDir, int, num, resolveUserPath, runCli } from '@parts/cli';
import { DEFAULT_ARCH, resolveTrainOptions, train, TRAIN_DEFAULTS } from '../index';
import { checkPathsExist } from './check-paths';

const program = new Command('train')
  .description('Train an image classifier and write a run folder (config, history, model, metrics).')
  .option('--arch <name>', `architecture (${archNames()}); default ${DEFAULT_ARCH} with its recipe: ${recipeText(DEFAULT_ARCH)}`)
  .addOption(new Option('--mode <mode>', `training mode (default: the arch's: ${defaultModes()})`).choices([...TRAIN_MODES, ...Object.keys(TRAIN_MODE_ALIASES)]))
  .option('--data <dir>', 'dataset root <root>/<split>/<class>/<image> (default: the demo dataset, generated if missing)')
  .option('--epochs <n>', `maximum epochs (default ${TRAIN_DEFAULTS.epochs}, or the arch's recipe)`, int)
  .option('--batch-size <n>', `batch size (default ${TRAIN_DEFAULTS.batchSize})`, int)
  .option('--img-size <n>', `input size in pixels (square; default the arch's: ${defaultSizes()})`, int)
  .option('--lr <x>', `learning rate (default ${TRAIN_DEFAULTS.lr}, or the arch's recipe)`, num)
  .option('--seed <n>', `random seed (default ${TRAIN_DEFAULTS.seed})`, int)
  .option('--val-split <f>', `fraction of train held out for validation/early stopping (default ${TRAIN_DEFAULTS.valSplit})`, num)
  .addOption(new Option('--backend <b>', 'compute backend').choices(BACKEND_NAMES).default('auto'))
  .option('--out <dir>', 'parent folder of run folders (default: <repo>/runs)')
  .option('--weights <w>', `base weights of pretrained archs in extract/finetune mode: imagenet, none, or a Keras .h5 path (default ${TRAIN_DEFAULTS.weights})`)
  .option('--unfreeze <n>', 'fine-tuning: number of top base layers to unfreeze', int)
  .option('--patience <n>', `early-stopping patience in epochs (0 = off; default ${TRAIN_DEFAULTS.patience}, or the arch's recipe)`, int)
  .option('--no-class-weights', 'do not weight the loss by class imbalance')
  .addOption(new Option('--augment <preset>', "augmentation: study (the study's generator), size-preserving (no zoom/shear), none (default study, or the arch's recipe)").choices(['study', 'size-preserving', 'none']))
  .option('--no-augment', 'no data augmentation (= --augment none)')
  .addOption(new Option('--fit <policy>', `resize policy: cover = center crop, contain = letterbox (default ${TRAIN_DEFAULTS.fit}, or the arch's recipe)`).choices(['cover', 'contain']))
  .option('--label-smoothing <x>', `label smoothing (default ${TRAIN_DEFAULTS.labelSmoothing}, or the arch's recipe)`, num)
  .addOption(new Option('--lr-schedule <s>', "learning-rate schedule: constant, or cosine decay after a linear warm-up (default constant, or the arch's recipe)").choices(['constant', 'cosine']))
  .option('--warmup-epochs <n>', 'cosine schedule: epochs of linear warm-up', int)
  .option('--weight-decay <x>', 'decoupled (AdamW) weight decay of conv/dense kernels (default 0, or the arch\'s recipe)', num)
  .option('--accept-rate <r>', `share of validation photos the out-of-distribution threshold (model/ood.json) accepts as known, in (0, 1] (default ${TRAIN_DEFAULTS.acceptRate})`, num)
  .option('--no-silhouette', 'OOD detector without its silhouette part (the shape of the main dark object on light paper): the feature scorer alone')
  .option('--group-threshold <x>', `perceptual similarity at which photos of one class count as near-copies and stay on one side of the generated val/test splits and CV folds; 0 = split photo by photo (default ${TRAIN_DEFAULTS.groupThreshold})`, num)
  .option('--name <suffix>', 'suffix of the run folder name')
  .option('--folds <K>', 'stratified K-fold cross-validation on the train split (K >= 2): one run per fold validated on that fold, never on test; writes <out>/<timestamp>-<arch>-<mode>-cv<K>/cv.json', foldCount)
  .option('--skip-bad', 'skip unreadable images instead of stopping')
  .option('--quiet', 'no progress output');

// Help text from the architecture registry, so a registered architecture shows up here.
function archNames(): string {
  const names = listArchs().map((a) => a.name);
  return [DEFAULT_ARCH, ...names.filter((n) => n !== DEFAULT_ARCH)].join(', ');
}

function recipeText(arch: string): string {
  const spec = getArch(arch);
  return Object.entries({ imgSize: spec.defaultImgSize, ...spec.recipe })
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(', ');
}

/** "x for a, b; y for c": architectures grouped by a value of their spec. */
function groupedBy(value: (spec: ArchSpec) => string): string {
  const groups = new Map<string, string[]>();
  for (const a of listArchs()) groups.set(value(a), [...(groups.get(value(a)) ?? []), a.name]);
  return [...groups].map(([v, names]) => `${v} for ${names.join(', ')}`).join('; ');
}

function defaultModes(): string {
  return groupedBy((a) => a.defaultMode);
}

function defaultSizes(): string {
  return groupedBy((a) => `${a.defaultImgSize}`);
}

runCli(program, async (o) => {
  // Defaults and the rules between options (--weights, --folds with --val-split) are
  // resolveTrainOptions's: train() and crossValidate() apply them. They are checked here first, with
  // the paths the user gave, before the demo dataset is generated or a backend starts.
  const data = o.data ? resolveUserPath(o.data) : defaultDemoDir();
  const opts = {
    arch: o.arch,
    mode: o.mode === undefined ? undefined : canonicalTrainMode(o.mode),
    data,
    epochs: o.epochs,
    batchSize: o.batchSize,
    imgSize: o.imgSize,
    lr: o.lr,
    seed: o.seed,
    valSplit: o.valSplit,
    backend: o.backend,
    out: o.out ? resolveUserPath(o.out) : undefined,
    weights: o.weights === undefined || o.weights === 'imagenet' || o.weights === 'none' ? o.weights : resolveUserPath(o.weights),
    unfreeze: o.unfreeze,
    patience: o.patience,
    classWeights: o.classWeights,
    augment: o.augment === false ? 'none' : o.augment,
    fit: o.fit,
    labelSmoothing: o.labelSmoothing,
    lrSchedule: o.lrSchedule,
    warmupEpochs: o.warmupEpochs,
    weightDecay: o.weightDecay,
    acceptRate: o.acceptRate,
    silhouette: o.silhouette,
    groupThreshold: o.groupThreshold,
    name: o.name,
    skipBad: Boolean(o.skipBad),
    quiet: Boolean(o.quiet),
  };
  resolveTrainOptions(o.folds !== undefined ? { ...opts, fold: { k: 1, folds: o.folds } } : opts, opts.out ?? '.');
  checkPathsExist({ '--data': o.data ? data : undefined, '--weights': o.weights === undefined || o.weights === 'imagenet' || o.weights === 'none' ? undefined : opts.weights });
  opts.data = await dataOrDemo(o.data);
  if (o.folds !== undefined) {
    const cv = await crossValidate({ ...opts, folds: o.folds });
    process.stdout.write(formatCvResult(cv) + '\n' + cv.cvDir + '\n');
    return;
  }
  const result = await train(opts);
  process.stdout.write(result.runDir + '\n');
});
