/**
 * VGG16 without the classifier top, layer for layer as Keras Applications' `VGG16(include_top=False)`
 * (keras/src/applications/vgg16.py): 13 3×3 'same' ReLU convolutions in 5 blocks, each block ending
 * in a 2×2 max-pool. 14,714,688 parameters. Inputs: Keras 'caffe' preprocessing.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type { ArchSpec } from '../registry';
import { reluConv2d } from './relu-conv';
import { apply, assertImgSize, SeededInit, type BuildOptions } from './common';

export const WEIGHTS_URL_NOTOP =
  'https://storage.googleapis.com/tensorflow/keras-applications/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5';
export const WEIGHTS_MD5_NOTOP = '6d6bbae143d832006294945121d1f1fc';

/** Keras' minimum: five /2 pools must leave at least 1×1. */
export const VGG16_MIN_SIZE = 32;

const BLOCKS: Array<[filters: number, convs: number]> = [
  [64, 2],
  [128, 2],
  [256, 3],
  [512, 3],
  [512, 3],
];

export function buildVgg16Base(opts: BuildOptions): tfl.LayersModel {
  assertImgSize('vgg16', opts.imgSize, VGG16_MIN_SIZE);
  const init = new SeededInit(opts.seed);
  const input = tfl.input({ shape: [opts.imgSize, opts.imgSize, 3], name: 'input_1' });
  let x = input;
  BLOCKS.forEach(([filters, convs], b) => {
    for (let c = 1; c <= convs; c++) {
      const conv = reluConv2d({
        filters,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: init.glorotUniform(),
        name: `block${b + 1}_conv${c}`,
      });
      x = apply(conv, x);
    }
    x = apply(tfl.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `block${b + 1}_pool` }), x);
  });
  return tfl.model({ inputs: input, outputs: x, name: 'vgg16' });
}

export const vgg16: ArchSpec = {
  name: 'vgg16',
  aliases: [],
  pretrained: true,
  preprocess: 'caffe',
  defaultImgSize: 256,
  minImgSize: VGG16_MIN_SIZE,
  modes: ['extract', 'finetune'],
  defaultMode: 'finetune',
  // The study fine-tunes block 5: base.layers[15:] (block5_conv1 .. block5_pool).
  finetuneDefault: { fromLayer: 15 },
  weights: { url: WEIGHTS_URL_NOTOP, md5: WEIGHTS_MD5_NOTOP, fileName: 'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5' },
  buildBase: buildVgg16Base,
};
