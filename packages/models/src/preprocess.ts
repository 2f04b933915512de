/**
 * Input preprocessing, identical to Keras' `preprocess_input` of each model family. The spec is
 * stored with every saved model (ClassifierMeta.preprocess), so training, predict and serve all
 * call this one function with the same spec.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { PreprocessSpec } from './types';

/** ImageNet channel means in BGR order, as subtracted by Keras' 'caffe' mode. */
export const CAFFE_MEAN_BGR: readonly [number, number, number] = [103.939, 116.779, 123.68];

export const PREPROCESS_SPECS: readonly PreprocessSpec[] = ['rescale01', 'caffe', 'tf', 'none'];

/**
 * @param x float RGB images with values 0..255, shape [batch, height, width, 3]
 * - 'caffe': RGB -> BGR, then subtract CAFFE_MEAN_BGR (VGG16, ResNet50)
 * - 'tf': x / 127.5 - 1 (InceptionV3)
 * - 'rescale01': x / 255 (Tiny VGG)
 * - 'none': unchanged (EfficientNet scales inside the model)
 */
export function preprocessInput(x: tf.Tensor4D, spec: PreprocessSpec): tf.Tensor4D {
  if (x.rank !== 4 || x.shape[3] !== 3) {
    throw new Error(`preprocessInput: expected [batch, height, width, 3] RGB images, got shape [${x.shape.join(', ')}]`);
  }
  return tf.tidy(() => {
    const xf = x.dtype === 'float32' ? x : tf.cast(x, 'float32');
    switch (spec) {
      case 'caffe':
        return tf.sub(tf.reverse(xf, -1), tf.tensor1d(CAFFE_MEAN_BGR as unknown as number[])) as tf.Tensor4D;
      case 'tf':
        return tf.sub(tf.div(xf, 127.5), 1) as tf.Tensor4D;
      case 'rescale01':
        return tf.div(xf, 255) as tf.Tensor4D;
      case 'none':
        // A copy, so callers can always dispose the result independently of the input.
        return tf.clone(xf);
      default:
        throw new Error(`unknown preprocess spec ${JSON.stringify(spec)}; expected one of ${PREPROCESS_SPECS.join(', ')}`);
    }
  });
}
