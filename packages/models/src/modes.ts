// The training modes, listed once in the settings schema (@parts/cli): the CLI's choices, option
// checks, the study grid and each architecture's modes all come from there.
import { TRAIN_MODE_NAMES } from '@parts/cli';

export const TRAIN_MODES = TRAIN_MODE_NAMES;

/** scratch: random init; extract: frozen pretrained base + trained head; finetune: head + top of the base. */
export type TrainMode = (typeof TRAIN_MODES)[number];

/** Other spellings accepted on the command line and in published results. */
export const TRAIN_MODE_ALIASES: Readonly<Record<string, TrainMode>> = { 'feature-extraction': 'extract', 'fine-tune': 'finetune' };

export function isTrainMode(value: unknown): value is TrainMode {
  return (TRAIN_MODES as readonly unknown[]).includes(value);
}

/** The mode a name or alias stands for (case-insensitive), or undefined. */
export function canonicalTrainMode(value: string): TrainMode | undefined {
  const v = value.trim().toLowerCase();
  return isTrainMode(v) ? v : TRAIN_MODE_ALIASES[v];
}

/** Parses a CLI mode, accepting the aliases feature-extraction and fine-tune. */
export function parseTrainMode(value: string): TrainMode {
  const mode = canonicalTrainMode(value);
  if (!mode) throw new Error(`unknown mode "${value}"; expected scratch, extract (feature-extraction) or finetune`);
  return mode;
}
