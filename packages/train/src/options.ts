import path from 'node:path';
import { resolveSettings, settingDefaults, TRAIN_SETTINGS, type LrScheduleName, type Values } from '@parts/cli';
import type { AugmentPreset } from '@parts/data';
import { getArch } from '@parts/models';
import { checkFold, type FoldSpec } from './folds';

export type LrSchedule = LrScheduleName;

/**
 * Options of one training run: the settings of `pnpm train` (TRAIN_SETTINGS in @parts/cli, where
 * each is typed, checked and documented once), plus what only the library takes.
 */
export type TrainOptions = Partial<Omit<Values<typeof TRAIN_SETTINGS>, 'data' | 'augment' | 'folds' | 'verbose'>> & {
  /** Dataset root (<root>/<split>/<class>/<image>). */
  data: string;
  /** true = 'study' (Keras ImageDataGenerator of the study), false = 'none', or a named preset. */
  augment?: boolean | AugmentPreset;
  /** Where progress lines go; default stderr. */
  log?: (line: string) => void;
  /**
   * Near-duplicate grouping of the training photos (@parts/data near-duplicate-groups.ts): photos of
   * one class whose perceptual signatures are at least this alike stay on one side of the generated
   * validation split, test split and cross-validation folds, so thresholds, temperature and early
   * stopping are set on photos as new as a line's. In [0, 1]; 0 = split photo by photo. Default 0.6.
   */
  groupThreshold?: number;
  /**
   * Cross-validation fold run (set by crossValidate): train on the other folds of the train split,
   * validate (early stopping, best epoch) on fold k; valSplit is forced to 0 and the test split is
   * dropped, so metrics.test is null. Folds are stratified and seeded by `seed` (see folds.ts).
   */
  fold?: FoldSpec;
};

export type ResolvedTrainOptions = Required<Omit<TrainOptions, 'name' | 'unfreeze' | 'augment' | 'fold' | 'log'>> &
  Pick<TrainOptions, 'name' | 'unfreeze' | 'fold'> & { augment: AugmentPreset };

/** The settings a run resolves: pnpm train's, less those of the command line alone. */
const { verbose: _verbose, folds: _folds, ...TRAIN_RUN_SETTINGS } = TRAIN_SETTINGS;

/** The architecture `pnpm train` uses when no --arch is given: the best from-scratch recipe. */
export const DEFAULT_ARCH = 'partsnet';

/**
 * Global defaults, from the settings schema. Each architecture's spec (@parts/models registry)
 * replaces some of them: its input size (defaultImgSize), its mode (defaultMode) and its recipe
 * (settings marked perArch). Precedence: explicit option > the architecture's recipe and spec > these.
 */
export const TRAIN_DEFAULTS = settingDefaults(TRAIN_RUN_SETTINGS) as Required<ReturnType<typeof settingDefaults<typeof TRAIN_RUN_SETTINGS>>>;

/**
 * Fills in defaults (explicit option > the architecture's recipe and spec > TRAIN_DEFAULTS) and
 * checks every option, naming the command-line flag of each bad one.
 */
export function resolveTrainOptions(opts: TrainOptions, defaultOut: string): ResolvedTrainOptions {
  const { log: _log, ...given } = stripUndefined(opts);
  const spec = getArch(given.arch ?? DEFAULT_ARCH);
  const mode = given.mode ?? spec.defaultMode;
  if (given.weights !== undefined && given.weights !== 'none' && (mode === 'scratch' || !spec.pretrained)) {
    throw new Error(`--weights applies to the pretrained bases in extract or finetune mode; ${spec.name} --mode ${mode} starts from random init`);
  }
  if (given.fold && given.valSplit !== undefined) {
    throw new Error('--val-split does not apply with --folds: each fold is the validation split of its run');
  }
  const { augment: givenAugment, ...rest } = given;
  // The schema checks each value (naming its flag); augment's true/false are the study's generator or none.
  const augment = givenAugment === true ? 'study' : givenAugment === false ? 'none' : givenAugment;
  const r = resolveSettings(
    TRAIN_RUN_SETTINGS,
    { ...rest, augment, out: rest.out ?? defaultOut, arch: spec.name, mode, valSplit: given.fold ? 0 : rest.valSplit },
    { imgSize: spec.defaultImgSize },
    spec.recipe ?? {},
  ) as unknown as ResolvedTrainOptions;
  r.data = path.resolve(r.data);
  r.out = path.resolve(r.out);
  // The fold is the validation split: no second one is carved out of the training folds.
  if (r.fold) checkFold(r.fold);
  return r;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
