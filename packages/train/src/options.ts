import path from 'node:path';
import type { BackendName } from '@parts/backend';
import type { FitPolicy } from '@parts/data';
import type { TrainMode } from '@parts/models';

export interface TrainOptions {
  arch: string;
  mode: TrainMode;
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
  augment?: boolean;
  fit?: FitPolicy;
  labelSmoothing?: number;
  /** Suffix of the run folder name. */
  name?: string;
  quiet?: boolean;
  skipBad?: boolean;
}

export type ResolvedTrainOptions = Required<Omit<TrainOptions, 'name' | 'unfreeze'>> & Pick<TrainOptions, 'name' | 'unfreeze'>;

export const TRAIN_DEFAULTS = {
  epochs: 30,
  batchSize: 16,
  imgSize: 256,
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
  quiet: false,
  skipBad: false,
} as const;

export function resolveTrainOptions(opts: TrainOptions, defaultOut: string): ResolvedTrainOptions {
  const r = { ...TRAIN_DEFAULTS, out: defaultOut, ...stripUndefined(opts) } as ResolvedTrainOptions;
  r.data = path.resolve(r.data);
  r.out = path.resolve(r.out);
  const checks: [boolean, string][] = [
    [Number.isInteger(r.epochs) && r.epochs >= 1, `--epochs must be an integer >= 1 (got ${r.epochs})`],
    [Number.isInteger(r.batchSize) && r.batchSize >= 1, `--batch-size must be an integer >= 1 (got ${r.batchSize})`],
    [Number.isInteger(r.imgSize) && r.imgSize >= 16 && r.imgSize <= 1024, `--img-size must be an integer in 16..1024 (got ${r.imgSize})`],
    [r.lr > 0 && r.lr < 10, `--lr must be in (0, 10) (got ${r.lr})`],
    [r.valSplit >= 0 && r.valSplit < 1, `--val-split must be in [0, 1) (got ${r.valSplit})`],
    [Number.isInteger(r.seed), `--seed must be an integer (got ${r.seed})`],
    [Number.isInteger(r.patience) && r.patience >= 0, `--patience must be an integer >= 0 (got ${r.patience})`],
    [r.labelSmoothing >= 0 && r.labelSmoothing < 1, `--label-smoothing must be in [0, 1) (got ${r.labelSmoothing})`],
    [['scratch', 'extract', 'finetune'].includes(r.mode), `--mode must be scratch, extract or finetune (got ${r.mode})`],
    [r.fit === 'cover' || r.fit === 'contain', `--fit must be cover or contain (got ${r.fit})`],
  ];
  const bad = checks.filter(([ok]) => !ok).map(([, msg]) => msg);
  if (bad.length) throw new Error(bad.join('\n'));
  return r;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
