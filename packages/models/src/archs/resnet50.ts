/**
 * ResNet50 without the classifier top, layer for layer as Keras Applications'
 * `ResNet50(include_top=False)` (keras/src/applications/resnet.py, the version whose weights live
 * under keras-applications/resnet/): layer names conv1_conv, conv2_block1_0_conv, ...; every
 * convolution has a bias; BatchNormalization epsilon 1.001e-5; the projection shortcut (`_0_`) is
 * created before the residual branch. 23,587,712 parameters. Inputs: Keras 'caffe' preprocessing.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type { ArchSpec } from '../registry';
import { batchNormalization } from '../bn-fix';
import { apply, assertImgSize, SeededInit, type BuildOptions } from './common';

export const WEIGHTS_URL_NOTOP =
  'https://storage.googleapis.com/tensorflow/keras-applications/resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5';
export const WEIGHTS_MD5_NOTOP = '4d473c1dd8becc155b73f8504c6f6626';

export const RESNET50_MIN_SIZE = 32;

const BN_EPSILON = 1.001e-5;

type Sym = tfl.SymbolicTensor;

export function buildResNet50Base(opts: BuildOptions): tfl.LayersModel {
  assertImgSize('resnet50', opts.imgSize, RESNET50_MIN_SIZE);
  const init = new SeededInit(opts.seed);
  const conv = (filters: number, kernelSize: number, name: string, strides = 1, padding: 'valid' | 'same' = 'valid') =>
    tfl.layers.conv2d({ filters, kernelSize, strides, padding, kernelInitializer: init.glorotUniform(), name });
  const bn = (name: string) => batchNormalization({ axis: 3, epsilon: BN_EPSILON, name });
  const relu = (name: string) => tfl.layers.activation({ activation: 'relu', name });

  /** Keras `block1`: bottleneck residual block. */
  const block = (x: Sym, filters: number, name: string, stride: number, convShortcut: boolean): Sym => {
    let shortcut = x;
    if (convShortcut) {
      shortcut = apply(conv(4 * filters, 1, `${name}_0_conv`, stride), x);
      shortcut = apply(bn(`${name}_0_bn`), shortcut);
    }
    let y = apply(conv(filters, 1, `${name}_1_conv`, stride), x);
    y = apply(bn(`${name}_1_bn`), y);
    y = apply(relu(`${name}_1_relu`), y);
    y = apply(conv(filters, 3, `${name}_2_conv`, 1, 'same'), y);
    y = apply(bn(`${name}_2_bn`), y);
    y = apply(relu(`${name}_2_relu`), y);
    y = apply(conv(4 * filters, 1, `${name}_3_conv`), y);
    y = apply(bn(`${name}_3_bn`), y);
    y = apply(tfl.layers.add({ name: `${name}_add` }), [shortcut, y]);
    return apply(relu(`${name}_out`), y);
  };
  /** Keras `stack1`: the first block projects (and strides), the others are identity blocks. */
  const stack = (x: Sym, filters: number, blocks: number, stride1: number, name: string): Sym => {
    x = block(x, filters, `${name}_block1`, stride1, true);
    for (let i = 2; i <= blocks; i++) x = block(x, filters, `${name}_block${i}`, 1, false);
    return x;
  };

  const input = tfl.input({ shape: [opts.imgSize, opts.imgSize, 3], name: 'input_1' });
  let x = apply(tfl.layers.zeroPadding2d({ padding: [[3, 3], [3, 3]], name: 'conv1_pad' }), input);
  x = apply(conv(64, 7, 'conv1_conv', 2), x);
  x = apply(bn('conv1_bn'), x);
  x = apply(relu('conv1_relu'), x);
  x = apply(tfl.layers.zeroPadding2d({ padding: [[1, 1], [1, 1]], name: 'pool1_pad' }), x);
  x = apply(tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'pool1_pool' }), x);
  x = stack(x, 64, 3, 1, 'conv2');
  x = stack(x, 128, 4, 2, 'conv3');
  x = stack(x, 256, 6, 2, 'conv4');
  x = stack(x, 512, 3, 2, 'conv5');
  return tfl.model({ inputs: input, outputs: x, name: 'resnet50' });
}

export const resnet50: ArchSpec = {
  name: 'resnet50',
  aliases: [],
  pretrained: true,
  preprocess: 'caffe',
  defaultImgSize: 256,
  minImgSize: RESNET50_MIN_SIZE,
  modes: ['extract', 'finetune'],
  defaultMode: 'finetune',
  // The study unfreezes the last 10 layers (conv5_block3's second half).
  finetuneDefault: { lastLayers: 10 },
  weights: { url: WEIGHTS_URL_NOTOP, md5: WEIGHTS_MD5_NOTOP, fileName: 'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5' },
  buildBase: buildResNet50Base,
};
