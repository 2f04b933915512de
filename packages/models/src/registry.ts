/**
 * Architecture registry. Adding an architecture = one file under archs/ exporting an ArchSpec,
 * plus one line in BUILTIN_ARCHS below. The spec is the one description of an architecture:
 * names, input size, preprocessing, the modes it trains in and its default one, its training
 * recipe, pretrained weights and builders. The CLI, training defaults and the study grid read it.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { PerArchKey, TRAIN_SETTINGS, Values } from '@parts/cli';
import type { PreprocessSpec } from './types';
import { isTrainMode, type TrainMode } from './modes';
import type { BuildOptions } from './archs/common';
import { assertImgSize } from './archs/common';
import { tinyvgg } from './archs/tinyvgg';
import { vgg16 } from './archs/vgg16';
import { resnet50 } from './archs/resnet50';
import { inceptionv3 } from './archs/inceptionv3';
import { efficientnetb0 } from './archs/efficientnetb0';
import { partsnet } from './archs/partsnet';

export type { BuildOptions } from './archs/common';

/** Which base layers fine-tuning unfreezes by default (indices into `base.layers`, input layer = 0). */
export type FinetuneFrom = { fromLayer: number } | { lastLayers: number };

/** The official Keras ImageNet weights without the classifier top. */
export interface PretrainedWeights {
  url: string;
  md5: string;
  /** File name as Keras caches it (last URL segment). */
  fileName: string;
}

/**
 * Training options an architecture sets instead of the global defaults: the settings of `pnpm
 * train` marked perArch in the settings schema (TRAIN_SETTINGS in @parts/cli); an explicit option
 * still wins.
 */
export type ArchRecipe = Partial<Pick<Values<typeof TRAIN_SETTINGS>, PerArchKey>>;

export interface ArchSpec {
  name: string;
  aliases: string[];
  /** True for ImageNet-pretrained bases that support extract/finetune. */
  pretrained: boolean;
  preprocess: PreprocessSpec;
  /** Input size training uses unless an option sets one. */
  defaultImgSize: number;
  /** The modes this architecture is trained in (the study runs each), in order. */
  modes: readonly TrainMode[];
  /** The mode training uses unless an option sets one; one of `modes`. */
  defaultMode: TrainMode;
  /** Training options that replace the global defaults for this architecture. */
  recipe?: ArchRecipe;
  minImgSize: number;
  /** Pretrained archs: what `finetune` unfreezes unless `unfreeze` overrides it. */
  finetuneDefault?: FinetuneFrom;
  weights?: PretrainedWeights;
  /** Pretrained archs: the convolutional base ("notop"), Keras layer names. */
  buildBase?(opts: BuildOptions): tfl.LayersModel;
  /** Non-transfer archs (Tiny VGG): the complete classifier. */
  buildModel?(opts: BuildOptions & { numClasses: number }): tfl.LayersModel;
}

const BUILTIN_ARCHS: ArchSpec[] = [tinyvgg, vgg16, resnet50, inceptionv3, efficientnetb0, partsnet];

const registry = new Map<string, ArchSpec>();

function key(name: string): string {
  return name.trim().toLowerCase();
}

export function registerArch(spec: ArchSpec): void {
  if (!spec.buildBase && !spec.buildModel) throw new Error(`arch ${spec.name}: needs buildBase or buildModel`);
  if (spec.pretrained && !spec.buildBase) throw new Error(`arch ${spec.name}: a pretrained arch needs buildBase`);
  if (!spec.modes.length || !spec.modes.every(isTrainMode)) throw new Error(`arch ${spec.name}: modes must list scratch, extract or finetune`);
  if (!spec.modes.includes(spec.defaultMode)) throw new Error(`arch ${spec.name}: defaultMode ${spec.defaultMode} is not one of its modes (${spec.modes.join(', ')})`);
  for (const n of [spec.name, ...spec.aliases]) {
    const existing = registry.get(key(n));
    if (existing && existing.name !== spec.name) {
      throw new Error(`arch name "${n}" is already used by ${existing.name}`);
    }
  }
  for (const n of [spec.name, ...spec.aliases]) registry.set(key(n), spec);
}

export function getArch(nameOrAlias: string): ArchSpec {
  const spec = registry.get(key(nameOrAlias));
  if (!spec) {
    const known = listArchs()
      .map((a) => (a.aliases.length ? `${a.name} (${a.aliases.join(', ')})` : a.name))
      .join(', ');
    throw new Error(`unknown architecture "${nameOrAlias}"; known: ${known}`);
  }
  return spec;
}

/** Registered architectures, each once, in registration order. */
export function listArchs(): ArchSpec[] {
  return [...new Set(registry.values())];
}

/** The architecture's canonical name for a name or alias, or undefined when none is registered. */
export function canonicalArchName(nameOrAlias: string): string | undefined {
  return registry.get(key(nameOrAlias))?.name;
}

/** Throws a clear error when `imgSize` is not usable with the architecture. */
export function checkImgSize(spec: ArchSpec, imgSize: number): void {
  assertImgSize(spec.name, imgSize, spec.minImgSize);
}

for (const spec of BUILTIN_ARCHS) registerArch(spec);
