import path from 'node:path';
import type { BackendName } from '@parts/backend';
import { AUGMENT_PRESETS, DEFAULT_GROUP_THRESHOLD, type AugmentPreset, type FitPolicy } from '@parts/data';
import { getArch, isTrainMode, TRAIN_MODES, type TrainMode } from '@parts/models';
import { checkFold, type FoldSpec } from './folds';

export type LrSchedule = 'constant' | 'cosine';

export interface TrainOptions {
  /** Default: DEFAULT_ARCH with its recipe (ArchSpec.recipe). */
  arch?: string;
  /** Default: the architecture's defaultMode (finetune for the pretrained bases, scratch otherwise). */
  mode?: TrainMode;
  /** Dataset root (<root>/<split>/<class>/<image>). */
  data: string;
  epochs?: number;
  batchSize?: number;
  imgSize?: number;
  lr?: number;
  /** Learning rate of unfrozen base layers, as a fraction of lr (fine-tuning). */
  baseLrFactor?: number;
  seed?: number;
  /** Fraction of train carved out (stratified) for validation / early stopping. 0 = none. */
  valSplit?: number;
  backend?: BackendName;
  /** Parent folder of run folders. */
  out?: string;
  weights?: 'imagenet' | 'none' | string;
  unfreeze?: number;
  classWeights?: boolean;
  /** Early-stopping patience in epochs (0 = off). */
  patience?: number;
  /** true = 'study' (Keras ImageDataGenerator of the study), false = 'none', or a named preset. */
  augment?: boolean | AugmentPreset;
  fit?: FitPolicy;
  labelSmoothing?: number;
  /** 'cosine': lr decays from lr to 0 over the epochs after a linear warm-up of warmupEpochs. */
  lrSchedule?: LrSchedule;
  warmupEpochs?: number;
  /** Decoupled weight decay (AdamW) on conv/dense kernels, per step: w -= lr * weightDecay * w. */
  weightDecay?: number;
  /** Suffix of the run folder name. */
  name?: string;
  /** No progress output; log lines are dropped. */
  quiet?: boolean;
  /** Where progress lines go; default stderr. */
  log?: (line: string) => void;
  skipBad?: boolean;
  /**
   * Share of the validation photos the OOD detector (model/ood.json) accepts as known: its
   * threshold is this quantile of their scores from the top. In (0, 1]; default 0.95.
   */
  acceptRate?: number;
  /**
   * Fit the silhouette part of the OOD detector (a shape scorer on the main dark object of each
   * photo, docs/ood.md) besides the feature scorer. Default true; it is left out by itself when the
   * training photos have no consistent silhouette (cluttered backgrounds).
   */
  silhouette?: boolean;
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
}

export type ResolvedTrainOptions = Required<Omit<TrainOptions, 'name' | 'unfreeze' | 'augment' | 'fold' | 'log'>> &
  Pick<TrainOptions, 'name' | 'unfreeze' | 'fold'> & { augment: AugmentPreset };

/** The architecture `pnpm train` uses when no --arch is given: the best from-scratch recipe. */
export const DEFAULT_ARCH = 'partsnet';

/**
 * Global defaults. Each architecture's spec (@parts/models registry) replaces some of them: its
 * input size (defaultImgSize), its mode (defaultMode) and its recipe. Precedence: explicit option >
 * the architecture's recipe and spec > these.
 */
export const TRAIN_DEFAULTS = {
  epochs: 30,
  batchSize: 16,
  lr: 1e-3,
  baseLrFactor: 0.1,
  seed: 42,
  valSplit: 0.2,
  backend: 'auto',
  weights: 'imagenet',
  classWeights: true,
  patience: 8,
  augment: true,
  fit: 'cover',
  labelSmoothing: 0,
  lrSchedule: 'constant',
  warmupEpochs: 0,
  weightDecay: 0,
  quiet: false,
  skipBad: false,
  acceptRate: 0.95,
  silhouette: true,
  groupThreshold: DEFAULT_GROUP_THRESHOLD,
} as const;

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
  const r = {
    ...TRAIN_DEFAULTS,
    imgSize: spec.defaultImgSize,
    ...spec.recipe,
    out: defaultOut,
    ...given,
    arch: spec.name,
    mode,
  } as unknown as Omit<ResolvedTrainOptions, 'augment'> & { augment: unknown };
  const augment = r.augment === true ? 'study' : r.augment === false ? 'none' : r.augment;
  r.data = path.resolve(r.data);
  r.out = path.resolve(r.out);
  if (r.fold) {
    checkFold(r.fold);
    // The fold is the validation split: no second one is carved out of the training folds.
    r.valSplit = 0;
  }
  const checks: [boolean, string][] = [
    [Number.isInteger(r.epochs) && r.epochs >= 1, `--epochs must be an integer >= 1 (got ${r.epochs})`],
    [Number.isInteger(r.batchSize) && r.batchSize >= 1, `--batch-size must be an integer >= 1 (got ${r.batchSize})`],
    [Number.isInteger(r.imgSize) && r.imgSize >= 16 && r.imgSize <= 1024, `--img-size must be an integer in 16..1024 (got ${r.imgSize})`],
    [r.lr > 0 && r.lr < 10, `--lr must be in (0, 10) (got ${r.lr})`],
    [r.valSplit >= 0 && r.valSplit < 1, `--val-split must be in [0, 1) (got ${r.valSplit})`],
    [Number.isInteger(r.seed), `--seed must be an integer (got ${r.seed})`],
    [Number.isInteger(r.patience) && r.patience >= 0, `--patience must be an integer >= 0 (got ${r.patience})`],
    [r.labelSmoothing >= 0 && r.labelSmoothing < 1, `--label-smoothing must be in [0, 1) (got ${r.labelSmoothing})`],
    [isTrainMode(r.mode), `--mode must be ${TRAIN_MODES.slice(0, -1).join(', ')} or ${TRAIN_MODES.at(-1)} (got ${r.mode})`],
    [r.fit === 'cover' || r.fit === 'contain', `--fit must be cover or contain (got ${r.fit})`],
    [typeof augment === 'string' && augment in AUGMENT_PRESETS, `--augment must be one of ${Object.keys(AUGMENT_PRESETS).join(', ')} (got ${String(augment)})`],
    [r.lrSchedule === 'constant' || r.lrSchedule === 'cosine', `--lr-schedule must be constant or cosine (got ${r.lrSchedule})`],
    [Number.isInteger(r.warmupEpochs) && r.warmupEpochs >= 0, `--warmup-epochs must be an integer >= 0 (got ${r.warmupEpochs})`],
    [
      typeof r.acceptRate === 'number' && r.acceptRate > 0 && r.acceptRate <= 1,
      `--accept-rate must be a number in (0, 1]: the share of validation photos the OOD threshold accepts as known (got ${r.acceptRate})`,
    ],
    [r.weightDecay >= 0 && r.weightDecay < 1, `--weight-decay must be in [0, 1) (got ${r.weightDecay})`],
    [
      typeof r.groupThreshold === 'number' && r.groupThreshold >= 0 && r.groupThreshold <= 1,
      `--group-threshold must be a similarity in [0, 1] (0 = split photo by photo) (got ${r.groupThreshold})`,
    ],
  ];
  const bad = checks.filter(([ok]) => !ok).map(([, msg]) => msg);
  if (bad.length) throw new Error(bad.join('\n'));
  return { ...r, augment: augment as AugmentPreset };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
