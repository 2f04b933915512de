/**
 * EfficientNetB0 without the classifier top, layer for layer as Keras Applications'
 * `EfficientNetB0(include_top=False)` (keras/src/applications/efficientnet.py): input scaling is part
 * of the model (Rescaling 1/255, Normalization with stored mean/variance, and the extra per-channel
 * Rescaling Keras adds for the ImageNet weights), then the stem, 16 MBConv blocks (block1a ..
 * block7a) with squeeze-and-excitation and drop-connect, and top_conv/top_bn/top_activation.
 * 4,049,571 parameters (42,023 non-trainable). Inputs: raw 0..255 floats ('none').
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type { ArchSpec } from '../registry';
import { batchNormalization } from '../bn-fix';
import { apply, assertImgSize, correctPad, SeededInit, spatialSize, type BuildOptions } from './common';
import { Normalization } from './normalization';
import { swishActivation } from './swish';

export const WEIGHTS_URL_NOTOP = 'https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5';
export const WEIGHTS_MD5_NOTOP = '50bc09e76180e00e4465e1a485ddc09d';

export const EFFICIENTNETB0_MIN_SIZE = 32;

const IMAGENET_MEAN_RGB = [0.485, 0.456, 0.406];
const IMAGENET_STDDEV_RGB = [0.229, 0.224, 0.225];
const DROP_CONNECT_RATE = 0.2;

interface BlockArgs {
  kernelSize: number;
  repeats: number;
  filtersIn: number;
  filtersOut: number;
  expandRatio: number;
  strides: number;
}

/** Keras DEFAULT_BLOCKS_ARGS (id_skip=True, se_ratio=0.25 for all); B0 has width = depth = 1. */
const BLOCKS: BlockArgs[] = [
  { kernelSize: 3, repeats: 1, filtersIn: 32, filtersOut: 16, expandRatio: 1, strides: 1 },
  { kernelSize: 3, repeats: 2, filtersIn: 16, filtersOut: 24, expandRatio: 6, strides: 2 },
  { kernelSize: 5, repeats: 2, filtersIn: 24, filtersOut: 40, expandRatio: 6, strides: 2 },
  { kernelSize: 3, repeats: 3, filtersIn: 40, filtersOut: 80, expandRatio: 6, strides: 2 },
  { kernelSize: 5, repeats: 3, filtersIn: 80, filtersOut: 112, expandRatio: 6, strides: 1 },
  { kernelSize: 5, repeats: 4, filtersIn: 112, filtersOut: 192, expandRatio: 6, strides: 2 },
  { kernelSize: 3, repeats: 1, filtersIn: 192, filtersOut: 320, expandRatio: 6, strides: 1 },
];
const SE_RATIO = 0.25;

type Sym = tfl.SymbolicTensor;

export function buildEfficientNetB0Base(opts: BuildOptions): tfl.LayersModel {
  assertImgSize('efficientnetb0', opts.imgSize, EFFICIENTNETB0_MIN_SIZE);
  const init = new SeededInit(opts.seed);
  // Keras CONV_KERNEL_INITIALIZER: VarianceScaling(2.0, fan_out, truncated normal).
  const convInit = () => init.varianceScaling(2.0, 'fanOut', 'truncatedNormal');
  const conv1x1 = (filters: number, name: string, activation?: 'swish' | 'sigmoid', useBias = false) =>
    tfl.layers.conv2d({ filters, kernelSize: 1, padding: 'same', useBias, activation, kernelInitializer: convInit(), name });
  const bn = (name: string) => batchNormalization({ axis: 3, name });
  const swish = (name: string) => swishActivation({ name });

  /** Keras `block`: inverted residual (MBConv) block with squeeze-and-excitation. */
  const block = (inputs: Sym, a: Omit<BlockArgs, 'repeats'>, dropRate: number, name: string): Sym => {
    const filters = a.filtersIn * a.expandRatio;
    let x = inputs;
    if (a.expandRatio !== 1) {
      x = apply(conv1x1(filters, `${name}expand_conv`), x);
      x = apply(bn(`${name}expand_bn`), x);
      x = apply(swish(`${name}expand_activation`), x);
    }
    let padding: 'same' | 'valid' = 'same';
    if (a.strides === 2) {
      const pad = correctPad(spatialSize(x), a.kernelSize);
      x = apply(tfl.layers.zeroPadding2d({ padding: pad, name: `${name}dwconv_pad` }), x);
      padding = 'valid';
    }
    x = apply(
      tfl.layers.depthwiseConv2d({
        kernelSize: a.kernelSize,
        strides: a.strides,
        padding,
        useBias: false,
        depthwiseInitializer: convInit(),
        name: `${name}dwconv`,
      }),
      x,
    );
    x = apply(bn(`${name}bn`), x);
    x = apply(swish(`${name}activation`), x);

    const filtersSe = Math.max(1, Math.floor(a.filtersIn * SE_RATIO));
    let se = apply(tfl.layers.globalAveragePooling2d({ name: `${name}se_squeeze` }), x);
    se = apply(tfl.layers.reshape({ targetShape: [1, 1, filters], name: `${name}se_reshape` }), se);
    se = apply(conv1x1(filtersSe, `${name}se_reduce`, 'swish', true), se);
    se = apply(conv1x1(filters, `${name}se_expand`, 'sigmoid', true), se);
    x = apply(tfl.layers.multiply({ name: `${name}se_excite` }), [x, se]);

    x = apply(conv1x1(a.filtersOut, `${name}project_conv`), x);
    x = apply(bn(`${name}project_bn`), x);
    if (a.strides === 1 && a.filtersIn === a.filtersOut) {
      if (dropRate > 0) {
        // Drop-connect: drops whole examples of the residual branch (noise shape [batch, 1, 1, 1]).
        x = apply(tfl.layers.dropout({ rate: dropRate, noiseShape: [null, 1, 1, 1] as unknown as number[], name: `${name}drop` }), x);
      }
      x = apply(tfl.layers.add({ name: `${name}add` }), [x, inputs]);
    }
    return x;
  };

  const input = tfl.input({ shape: [opts.imgSize, opts.imgSize, 3], name: 'input_1' });
  let x = apply(tfl.layers.rescaling({ scale: 1 / 255, name: 'rescaling' }), input);
  // Initialised to the values the ImageNet weight file stores (its "variance" holds the stddev,
  // see the Rescaling below), so random-init runs see the same input scaling as pretrained ones.
  x = apply(new Normalization({ axis: 3, mean: IMAGENET_MEAN_RGB, variance: IMAGENET_STDDEV_RGB, name: 'normalization' }), x);
  // Keras adds this for weights='imagenet' (tensorflow/tensorflow#49930): divides once more by
  // sqrt(stddev) so the result is (x - mean) / stddev. tfjs' Rescaling multiplies by `scale` with
  // broadcasting, so a per-channel array works although its typings say number.
  x = apply(
    tfl.layers.rescaling({ scale: IMAGENET_STDDEV_RGB.map((s) => 1 / Math.sqrt(s)) as unknown as number, name: 'rescaling_1' }),
    x,
  );

  x = apply(tfl.layers.zeroPadding2d({ padding: correctPad(spatialSize(x), 3), name: 'stem_conv_pad' }), x);
  x = apply(
    tfl.layers.conv2d({ filters: 32, kernelSize: 3, strides: 2, padding: 'valid', useBias: false, kernelInitializer: convInit(), name: 'stem_conv' }),
    x,
  );
  x = apply(bn('stem_bn'), x);
  x = apply(swish('stem_activation'), x);

  const totalBlocks = BLOCKS.reduce((n, b) => n + b.repeats, 0);
  let b = 0;
  BLOCKS.forEach((args, i) => {
    for (let j = 0; j < args.repeats; j++) {
      const a = j === 0 ? args : { ...args, strides: 1, filtersIn: args.filtersOut };
      x = block(x, a, (DROP_CONNECT_RATE * b) / totalBlocks, `block${i + 1}${String.fromCharCode(97 + j)}_`);
      b++;
    }
  });

  x = apply(conv1x1(1280, 'top_conv'), x);
  x = apply(bn('top_bn'), x);
  x = apply(swish('top_activation'), x);
  return tfl.model({ inputs: input, outputs: x, name: 'efficientnetb0' });
}

export const efficientnetb0: ArchSpec = {
  name: 'efficientnet',
  aliases: ['efficientnetb0', 'efficientnet-b0', 'efficientnet_b0'],
  pretrained: true,
  preprocess: 'none',
  defaultImgSize: 256,
  minImgSize: EFFICIENTNETB0_MIN_SIZE,
  modes: ['extract', 'finetune'],
  defaultMode: 'finetune',
  // The study unfreezes the last 17 layers.
  finetuneDefault: { lastLayers: 17 },
  weights: { url: WEIGHTS_URL_NOTOP, md5: WEIGHTS_MD5_NOTOP, fileName: 'efficientnetb0_notop.h5' },
  buildBase: buildEfficientNetB0Base,
};
