/**
 * InceptionV3 without the classifier top, layer for layer as Keras Applications'
 * `InceptionV3(include_top=False)` (keras/src/applications/inception_v3.py). Its conv/BN/activation
 * layers are unnamed in Keras, so they carry Keras' automatic names (conv2d_1, batch_normalization_1,
 * activation_1, ..., as in the Keras 2 model the weight file was saved from); the concatenations are
 * named mixed0..mixed10, mixed9_0, mixed9_1. Every convolution has no bias and every BN has
 * scale=false (epsilon 1e-3), hence the BN fix in ../bn-fix.ts. 21,802,784 parameters.
 * Inputs: Keras 'tf' preprocessing ([-1, 1]).
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type { ArchSpec } from '../registry';
import { batchNormalization } from '../bn-fix';
import { apply, assertImgSize, SeededInit, type BuildOptions } from './common';

export const WEIGHTS_URL_NOTOP =
  'https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5';
export const WEIGHTS_MD5_NOTOP = 'bcbd6486424b2319ff4ef7d526e38f63';

/** Keras' minimum for InceptionV3 (the stride-2 reductions need 75 px to keep a 1×1 map). */
export const INCEPTIONV3_MIN_SIZE = 75;

type Sym = tfl.SymbolicTensor;

export function buildInceptionV3Base(opts: BuildOptions): tfl.LayersModel {
  assertImgSize('inceptionv3', opts.imgSize, INCEPTIONV3_MIN_SIZE);
  const init = new SeededInit(opts.seed);
  // Keras 2 automatic layer names: `<snake_case class>_<n>`, n counted per class from 1.
  const counters = new Map<string, number>();
  const autoName = (prefix: string): string => {
    const n = (counters.get(prefix) ?? 0) + 1;
    counters.set(prefix, n);
    return `${prefix}_${n}`;
  };

  /** Keras `conv2d_bn`: Conv2D (no bias) -> BatchNormalization(scale=False) -> ReLU. */
  const convBn = (x: Sym, filters: number, rows: number, cols: number, padding: 'same' | 'valid' = 'same', strides = 1): Sym => {
    x = apply(
      tfl.layers.conv2d({
        filters,
        kernelSize: [rows, cols],
        strides,
        padding,
        useBias: false,
        kernelInitializer: init.glorotUniform(),
        name: autoName('conv2d'),
      }),
      x,
    );
    x = apply(batchNormalization({ axis: 3, scale: false, name: autoName('batch_normalization') }), x);
    return apply(tfl.layers.activation({ activation: 'relu', name: autoName('activation') }), x);
  };
  const maxPool = (x: Sym): Sym =>
    apply(tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, name: autoName('max_pooling2d') }), x);
  const avgPoolSame = (x: Sym): Sym =>
    apply(tfl.layers.averagePooling2d({ poolSize: 3, strides: 1, padding: 'same', name: autoName('average_pooling2d') }), x);
  const concat = (xs: Sym[], name?: string): Sym =>
    apply(tfl.layers.concatenate({ axis: 3, name: name ?? autoName('concatenate') }), xs);

  const input = tfl.input({ shape: [opts.imgSize, opts.imgSize, 3], name: 'input_1' });
  let x = convBn(input, 32, 3, 3, 'valid', 2);
  x = convBn(x, 32, 3, 3, 'valid');
  x = convBn(x, 64, 3, 3);
  x = maxPool(x);
  x = convBn(x, 80, 1, 1, 'valid');
  x = convBn(x, 192, 3, 3, 'valid');
  x = maxPool(x);

  // mixed0..2: 35×35 blocks (pool branch 32, then 64 filters).
  [32, 64, 64].forEach((poolFilters, i) => {
    const b1x1 = convBn(x, 64, 1, 1);
    let b5x5 = convBn(x, 48, 1, 1);
    b5x5 = convBn(b5x5, 64, 5, 5);
    let b3x3dbl = convBn(x, 64, 1, 1);
    b3x3dbl = convBn(b3x3dbl, 96, 3, 3);
    b3x3dbl = convBn(b3x3dbl, 96, 3, 3);
    let bPool = avgPoolSame(x);
    bPool = convBn(bPool, poolFilters, 1, 1);
    x = concat([b1x1, b5x5, b3x3dbl, bPool], `mixed${i}`);
  });

  // mixed3: reduction to 17×17.
  {
    const b3x3 = convBn(x, 384, 3, 3, 'valid', 2);
    let b3x3dbl = convBn(x, 64, 1, 1);
    b3x3dbl = convBn(b3x3dbl, 96, 3, 3);
    b3x3dbl = convBn(b3x3dbl, 96, 3, 3, 'valid', 2);
    const bPool = maxPool(x);
    x = concat([b3x3, b3x3dbl, bPool], 'mixed3');
  }

  // mixed4..7: 17×17 blocks with factorised 7×7 convolutions.
  [128, 160, 160, 192].forEach((c, i) => {
    const b1x1 = convBn(x, 192, 1, 1);
    let b7x7 = convBn(x, c, 1, 1);
    b7x7 = convBn(b7x7, c, 1, 7);
    b7x7 = convBn(b7x7, 192, 7, 1);
    let b7x7dbl = convBn(x, c, 1, 1);
    b7x7dbl = convBn(b7x7dbl, c, 7, 1);
    b7x7dbl = convBn(b7x7dbl, c, 1, 7);
    b7x7dbl = convBn(b7x7dbl, c, 7, 1);
    b7x7dbl = convBn(b7x7dbl, 192, 1, 7);
    let bPool = avgPoolSame(x);
    bPool = convBn(bPool, 192, 1, 1);
    x = concat([b1x1, b7x7, b7x7dbl, bPool], `mixed${4 + i}`);
  });

  // mixed8: reduction to 8×8.
  {
    let b3x3 = convBn(x, 192, 1, 1);
    b3x3 = convBn(b3x3, 320, 3, 3, 'valid', 2);
    let b7x7x3 = convBn(x, 192, 1, 1);
    b7x7x3 = convBn(b7x7x3, 192, 1, 7);
    b7x7x3 = convBn(b7x7x3, 192, 7, 1);
    b7x7x3 = convBn(b7x7x3, 192, 3, 3, 'valid', 2);
    const bPool = maxPool(x);
    x = concat([b3x3, b7x7x3, bPool], 'mixed8');
  }

  // mixed9, mixed10: 8×8 blocks with split 1×3 / 3×1 branches.
  for (let i = 0; i < 2; i++) {
    const b1x1 = convBn(x, 320, 1, 1);
    let b3x3 = convBn(x, 384, 1, 1);
    const b3x3a = convBn(b3x3, 384, 1, 3);
    const b3x3b = convBn(b3x3, 384, 3, 1);
    b3x3 = concat([b3x3a, b3x3b], `mixed9_${i}`);
    let b3x3dbl = convBn(x, 448, 1, 1);
    b3x3dbl = convBn(b3x3dbl, 384, 3, 3);
    const b3x3dblA = convBn(b3x3dbl, 384, 1, 3);
    const b3x3dblB = convBn(b3x3dbl, 384, 3, 1);
    b3x3dbl = concat([b3x3dblA, b3x3dblB]);
    let bPool = avgPoolSame(x);
    bPool = convBn(bPool, 192, 1, 1);
    x = concat([b1x1, b3x3, b3x3dbl, bPool], `mixed${9 + i}`);
  }
  return tfl.model({ inputs: input, outputs: x, name: 'inception_v3' });
}

export const inceptionv3: ArchSpec = {
  name: 'inception',
  aliases: ['inceptionv3', 'inception_v3', 'inception-v3'],
  pretrained: true,
  preprocess: 'tf',
  defaultImgSize: 256,
  minImgSize: INCEPTIONV3_MIN_SIZE,
  modes: ['extract', 'finetune'],
  defaultMode: 'finetune',
  // The study unfreezes the last 17 layers.
  finetuneDefault: { lastLayers: 17 },
  weights: {
    url: WEIGHTS_URL_NOTOP,
    md5: WEIGHTS_MD5_NOTOP,
    fileName: 'inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5',
  },
  buildBase: buildInceptionV3Base,
};
