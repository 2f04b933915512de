/**
 * Builds a classifier for an architecture and a training mode:
 * - scratch:  random init (or the given base), every layer trains.
 * - extract:  the base is frozen and a new head trains. The head is GlobalAveragePooling2D followed
 *             by one Dense output layer, for every base. (The study's VGG16/ResNet50 heads used
 *             Flatten; GAP is used here for all bases because it keeps the cached features small
 *             — 512..2048 floats per image instead of up to 131k — and makes the head independent
 *             of the input size.) `base` then outputs the pooled features and `head` maps them to
 *             probabilities, so the trainer can compute features once per image and train only
 *             the head; `model` is the same layers end to end for predict/save.
 * - finetune: like extract, plus the top layers of the base unfreeze (the study's defaults per arch,
 *             or `unfreeze` = number of top base layers). BatchNormalization layers of the base stay
 *             in inference mode (moving statistics; their gamma/beta still train when unfrozen).
 * Output: 1 sigmoid unit for 2 classes (probability of the second label), else softmax.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type { ClassifierMeta } from './types';
import { isTrainMode, type TrainMode } from './modes';
import { getArch, checkImgSize, type ArchSpec } from './registry';
import { SeededInit, apply, predictionLayer } from './archs/common';
import { freezeBatchNormStatistics } from './bn-fix';

export interface BuildClassifierOptions {
  arch: string;
  mode: TrainMode;
  /** Default: the architecture's default size (256). */
  imgSize?: number;
  numClasses: number;
  /** finetune: number of top base layers to unfreeze (overrides the architecture's default). */
  unfreeze?: number;
  seed?: number;
  /** A pre-built base (e.g. with ImageNet weights loaded); default: a new randomly initialised one. */
  base?: tfl.LayersModel;
}

export interface BuiltClassifier {
  /** Input images -> probabilities; the model to train (scratch/finetune), save and predict with. */
  model: tfl.LayersModel;
  /**
   * Pretrained archs. extract: images -> pooled features [batch, C] (frozen); finetune/scratch:
   * the convolutional base (its trainableWeights are the unfrozen base weights).
   */
  base?: tfl.LayersModel;
  /** extract: pooled features [batch, C] -> probabilities, the only part that trains. */
  head?: tfl.LayersModel;
  /** Pretrained archs: the "notop" base with Keras layer names, for loading weights into. */
  convBase?: tfl.LayersModel;
  /** finetune: index into convBase.layers of the first unfrozen layer. */
  unfrozenFrom?: number;
  meta: Pick<ClassifierMeta, 'arch' | 'mode' | 'imgSize' | 'preprocess' | 'outputActivation'>;
}

/** Index of the first base layer that fine-tuning unfreezes. */
export function finetuneStartIndex(spec: ArchSpec, base: tfl.LayersModel, unfreeze?: number): number {
  const n = base.layers.length;
  if (unfreeze !== undefined) {
    // Layer 0 is the input layer, so at most n - 1 layers can be unfrozen.
    if (!Number.isInteger(unfreeze) || unfreeze < 0 || unfreeze > n - 1) {
      throw new Error(`unfreeze must be an integer from 0 to ${n - 1} (the layers of ${spec.name}'s base), got ${String(unfreeze)}`);
    }
    return n - unfreeze;
  }
  const d = spec.finetuneDefault;
  if (!d) throw new Error(`${spec.name} has no fine-tuning default; pass unfreeze`);
  const from = 'fromLayer' in d ? d.fromLayer : n - d.lastLayers;
  if (from < 1 || from > n) throw new Error(`${spec.name}: fine-tuning default ${JSON.stringify(d)} does not fit a base of ${n} layers`);
  return from;
}

export function buildClassifier(opts: BuildClassifierOptions): BuiltClassifier {
  const spec = getArch(opts.arch);
  const mode = opts.mode;
  if (!isTrainMode(mode)) throw new Error(`unknown mode ${JSON.stringify(mode)}`);
  const imgSize = opts.imgSize ?? spec.defaultImgSize;
  checkImgSize(spec, imgSize);
  const { numClasses } = opts;
  if (!Number.isInteger(numClasses) || numClasses < 2) {
    throw new Error(`numClasses must be an integer >= 2, got ${String(numClasses)}`);
  }
  const binary = numClasses === 2;
  const meta: BuiltClassifier['meta'] = {
    arch: spec.name,
    mode,
    imgSize,
    preprocess: spec.preprocess,
    outputActivation: binary ? 'sigmoid' : 'softmax',
  };

  if (!spec.pretrained) {
    if (mode !== 'scratch') throw new Error(`${spec.name} has no pretrained weights: only mode 'scratch' is possible, not '${mode}'`);
    if (opts.base) throw new Error(`${spec.name} does not take a separate base`);
    if (!spec.buildModel) throw new Error(`internal: ${spec.name} has no buildModel`);
    return { model: spec.buildModel({ imgSize, numClasses, seed: opts.seed }), meta };
  }
  if (!spec.buildBase) throw new Error(`internal: ${spec.name} has no buildBase`);

  const convBase = opts.base ?? spec.buildBase({ imgSize, seed: opts.seed });
  const inShape = convBase.inputs[0]?.shape;
  if (convBase.inputs.length !== 1 || inShape?.[1] !== imgSize || inShape[2] !== imgSize || inShape[3] !== 3) {
    throw new Error(`the given base takes input ${JSON.stringify(inShape)}, expected [null, ${imgSize}, ${imgSize}, 3]`);
  }

  // Head. Its seed stream is separate from the base's so a pre-built base does not shift it.
  const init = new SeededInit(opts.seed === undefined ? undefined : opts.seed + 1);
  const pool = tfl.layers.globalAveragePooling2d({ name: 'head_pool' });
  const dense = predictionLayer(numClasses, init, 'head_dense');
  const features = apply(pool, convBase.outputs[0] as tfl.SymbolicTensor);
  const output = apply(dense, features);
  const model = tfl.model({ inputs: convBase.inputs, outputs: output, name: `${spec.name}_${mode}` });

  if (mode === 'scratch') {
    for (const layer of model.layers) layer.trainable = true;
    return { model, base: convBase, convBase, meta };
  }

  // extract / finetune: the base's BN layers never use batch statistics.
  freezeBatchNormStatistics(convBase);
  const from = mode === 'finetune' ? finetuneStartIndex(spec, convBase, opts.unfreeze) : convBase.layers.length;
  convBase.layers.forEach((layer, i) => {
    layer.trainable = i >= from;
  });
  pool.trainable = true;
  dense.trainable = true;

  if (mode === 'finetune') return { model, base: convBase, convBase, unfrozenFrom: from, meta };

  const featureModel = tfl.model({ inputs: convBase.inputs, outputs: features, name: `${spec.name}_features` });
  const featureInput = tfl.input({ shape: [features.shape[1] as number], name: 'features' });
  const head = tfl.model({ inputs: featureInput, outputs: apply(dense, featureInput), name: `${spec.name}_head` });
  return { model, base: featureModel, head, convBase, meta };
}

/** Number of trainable parameters (sum over trainable weights), e.g. to report per mode. */
export function countTrainableParams(model: tfl.LayersModel): number {
  return model.trainableWeights.reduce((n, w) => n + w.shape.reduce((p: number, d) => p * (d ?? 1), 1), 0);
}
