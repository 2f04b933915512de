#!/usr/bin/env tsx
import { Command } from 'commander';
import { crossValidate, formatCvResult } from '../cross-validate';
import { canonicalTrainMode, getArch, listArchs, TRAIN_MODE_ALIASES, type ArchSpec } from '@parts/models';
import { dataOrDemo } from '@parts/data';
import { addSettingOptions, defaultDemoDir, parseText, resolveUserPath, runCli, settingValues, TRAIN_SETTINGS } from '@parts/cli';
import { DEFAULT_ARCH, resolveTrainOptions, train } from '../index';
import { checkPathsExist } from './check-paths';

// Flags, docs, defaults and checks come from the settings schema (TRAIN_SETTINGS); values are only
// type-parsed here and checked by resolveTrainOptions, after an architecture's recipe fills in.
const program = addSettingOptions(new Command('train').description('Train an image classifier and write a run folder (config, history, model, metrics).'), TRAIN_SETTINGS, {
  check: 'type',
  extraChoices: { mode: Object.keys(TRAIN_MODE_ALIASES) },
  // --folds is the command line's alone: checked in full as it is parsed.
  parsers: { folds: (text) => parseText(TRAIN_SETTINGS.folds, '--folds', text) },
  docs: {
    arch: `architecture (${archNames()}); default ${DEFAULT_ARCH} with its recipe: ${recipeText(DEFAULT_ARCH)}`,
    mode: `training mode (default: the arch's: ${defaultModes()})`,
    imgSize: `input size in pixels (square; default the arch's: ${defaultSizes()})`,
  },
});

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

const isNamedWeights = (w: string | undefined) => w === undefined || w === 'imagenet' || w === 'none';

runCli(program, async (raw) => {
  // Defaults and the rules between options (--weights, --folds with --val-split) are
  // resolveTrainOptions's: train() and crossValidate() apply them. They are checked here first, with
  // the paths the user gave, before the demo dataset is generated or a backend starts.
  const { verbose: _verbose, folds, ...o } = settingValues(raw, TRAIN_SETTINGS);
  const data = o.data ? resolveUserPath(o.data) : defaultDemoDir();
  const opts = {
    ...o,
    mode: o.mode === undefined ? undefined : canonicalTrainMode(o.mode),
    data,
    out: o.out ? resolveUserPath(o.out) : undefined,
    weights: isNamedWeights(o.weights) ? o.weights : resolveUserPath(o.weights),
    // Commander reads an unset --no-silhouette as true: only the flag itself counts as given (the data
    // recipe keeps given options and chooses the rest).
    silhouette: o.silhouette === false ? false : undefined,
    skipBad: Boolean(o.skipBad),
    quiet: Boolean(o.quiet),
  };
  resolveTrainOptions(folds !== undefined ? { ...opts, fold: { k: 1, folds } } : opts, opts.out ?? '.');
  checkPathsExist({ '--data': o.data ? data : undefined, '--weights': isNamedWeights(o.weights) ? undefined : opts.weights });
  opts.data = await dataOrDemo(o.data);
  if (folds !== undefined) {
    const cv = await crossValidate({ ...opts, folds });
    process.stdout.write(formatCvResult(cv) + '\n' + cv.cvDir + '\n');
    return;
  }
  const result = await train(opts);
  process.stdout.write(result.runDir + '\n');
});
