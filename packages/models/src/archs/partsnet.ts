/**
 * PartsNet: a compact CNN for training from scratch on a few hundred photos.
 *
 * Conv-BN-ReLU blocks with 'same' padding, a stride-2 stem and max-pools, widths 24-32-64-128-256,
 * then GlobalAveragePooling, dropout and the output layer (1 sigmoid unit for 2 classes, else
 * softmax). About 0.6 M parameters.
 *
 * Why this shape: the parts are small dark objects on a plain background photographed from a fixed
 * height, so the label is mostly "which shape, how many pixels". Global *average* pooling keeps a
 * quantity proportional to the object's area (a max would discard it), batch norm makes training
 * from random init on ~20 photos per class stable, and the stride-2 stem keeps the cost of a
 * 160-224 px input affordable on one CPU thread.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type { ArchSpec } from '../registry';
import { batchNormalization } from '../bn-fix';
import { apply, assertImgSize, predictionLayer, SeededInit, type BuildOptions } from './common';
import { plainConv2d } from './plain-conv';

/** Four halvings (stem + 3 pools) need at least 16 px for a 1×1 map. */
export const PARTSNET_MIN_SIZE = 16;

export interface PartsNetOptions extends BuildOptions {
  numClasses: number;
  /** Channel widths of the stem and the four stages (default [24, 32, 64, 128, 256]). */
  widths?: number[];
  /** Dropout before the output layer (default 0.3). */
  dropout?: number;
}

export const PARTSNET_WIDTHS = [24, 32, 64, 128, 256];

export function buildPartsNet(opts: PartsNetOptions): tfl.LayersModel {
  const { imgSize, numClasses } = opts;
  assertImgSize('partsnet', imgSize, PARTSNET_MIN_SIZE);
  if (!Number.isInteger(numClasses) || numClasses < 2) {
    throw new Error(`partsnet: numClasses must be an integer >= 2, got ${String(numClasses)}`);
  }
  const widths = opts.widths ?? PARTSNET_WIDTHS;
  if (widths.length !== 5 || !widths.every((w) => Number.isInteger(w) && w >= 1)) {
    throw new Error(`partsnet: widths must be 5 positive integers, got ${JSON.stringify(widths)}`);
  }
  const dropout = opts.dropout ?? 0.3;
  const init = new SeededInit(opts.seed);
  // He initialisation for ReLU networks; no conv bias since BN's beta follows.
  const convBnRelu = (x: tfl.SymbolicTensor, filters: number, name: string, strides = 1) => {
    x = apply(
      plainConv2d({
        filters,
        kernelSize: 3,
        strides,
        padding: 'same',
        useBias: false,
        kernelInitializer: init.varianceScaling(2, 'fanIn', 'truncatedNormal'),
        name: `${name}_conv`,
      }),
      x,
    );
    // momentum 0.9 (not Keras' 0.99): a run has only a few hundred steps, and the moving
    // statistics must have caught up with the weights by the time validation uses them.
    x = apply(batchNormalization({ axis: 3, momentum: 0.9, name: `${name}_bn` }), x);
    return apply(tfl.layers.activation({ activation: 'relu', name: `${name}_relu` }), x);
  };
  const pool = (x: tfl.SymbolicTensor, name: string) => apply(tfl.layers.maxPooling2d({ poolSize: 2, padding: 'same', name }), x);

  const input = tfl.input({ shape: [imgSize, imgSize, 3], name: 'input' });
  let x = convBnRelu(input, widths[0], 'stem', 2);
  x = convBnRelu(x, widths[1], 'block1');
  x = pool(x, 'block1_pool');
  x = convBnRelu(x, widths[2], 'block2a');
  x = convBnRelu(x, widths[2], 'block2b');
  x = pool(x, 'block2_pool');
  x = convBnRelu(x, widths[3], 'block3a');
  x = convBnRelu(x, widths[3], 'block3b');
  x = pool(x, 'block3_pool');
  x = convBnRelu(x, widths[4], 'block4');
  x = apply(tfl.layers.globalAveragePooling2d({ name: 'gap' }), x);
  if (dropout > 0) x = apply(tfl.layers.dropout({ rate: dropout, name: 'dropout' }), x);
  const output = apply(predictionLayer(numClasses, init), x);
  return tfl.model({ inputs: input, outputs: output, name: 'partsnet' });
}

export const partsnet: ArchSpec = {
  name: 'partsnet',
  aliases: ['parts-net'],
  pretrained: false,
  preprocess: 'rescale01',
  defaultImgSize: 128,
  minImgSize: PARTSNET_MIN_SIZE,
  modes: ['scratch'],
  defaultMode: 'scratch',
  // The from-scratch recipe measured in docs/accuracy.md: contain letterbox, size-preserving
  // augmentation, cosine learning rate with warm-up, weight decay and label smoothing.
  recipe: {
    fit: 'contain',
    augment: 'size-preserving',
    epochs: 40,
    patience: 0,
    lrSchedule: 'cosine',
    warmupEpochs: 3,
    lr: 2e-3,
    weightDecay: 1e-4,
    labelSmoothing: 0.1,
  },
  buildModel: (o) => buildPartsNet(o),
};
