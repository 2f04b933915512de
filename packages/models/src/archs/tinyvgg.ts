/**
 * Tiny VGG as in the study (after CNN Explainer's Tiny VGG): two blocks of two 3×3 convolutions
 * with 50 filters ('valid' padding, ReLU) and a 2×2 max-pool each, then Flatten, Dense 64 ReLU,
 * and the output: 1 sigmoid unit for 2 classes (p of the second label), else a softmax per class.
 * Trained from scratch on inputs rescaled to [0, 1].
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type { ArchSpec } from '../registry';
import { apply, assertImgSize, predictionLayer, SeededInit, type BuildOptions } from './common';
import { reluConv2d } from './relu-conv';

/** 3×3 valid conv ×2 then /2 pool, twice: 16 px is the smallest input that leaves a 1×1 map. */
export const TINYVGG_MIN_SIZE = 16;

export function buildTinyVgg(opts: BuildOptions & { numClasses: number }): tfl.LayersModel {
  const { imgSize, numClasses } = opts;
  assertImgSize('tinyvgg', imgSize, TINYVGG_MIN_SIZE);
  if (!Number.isInteger(numClasses) || numClasses < 2) {
    throw new Error(`tinyvgg: numClasses must be an integer >= 2, got ${String(numClasses)}`);
  }
  const init = new SeededInit(opts.seed);
  const conv = (name: string) => reluConv2d({ filters: 50, kernelSize: 3, activation: 'relu', kernelInitializer: init.glorotUniform(), name });

  const input = tfl.input({ shape: [imgSize, imgSize, 3], name: 'input' });
  let x = apply(conv('block1_conv1'), input);
  x = apply(conv('block1_conv2'), x);
  x = apply(tfl.layers.maxPooling2d({ poolSize: 2, name: 'block1_pool' }), x);
  x = apply(conv('block2_conv1'), x);
  x = apply(conv('block2_conv2'), x);
  x = apply(tfl.layers.maxPooling2d({ poolSize: 2, name: 'block2_pool' }), x);
  x = apply(tfl.layers.flatten({ name: 'flatten' }), x);
  x = apply(tfl.layers.dense({ units: 64, activation: 'relu', kernelInitializer: init.glorotUniform(), name: 'fc1' }), x);
  const output = apply(predictionLayer(numClasses, init), x);
  return tfl.model({ inputs: input, outputs: output, name: 'tinyvgg' });
}

export const tinyvgg: ArchSpec = {
  name: 'tinyvgg',
  aliases: ['tiny-vgg'],
  pretrained: false,
  preprocess: 'rescale01',
  defaultImgSize: 256,
  minImgSize: TINYVGG_MIN_SIZE,
  modes: ['scratch'],
  defaultMode: 'scratch',
  buildModel: buildTinyVgg,
};
