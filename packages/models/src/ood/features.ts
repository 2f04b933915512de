/**
 * Penultimate features and pre-activation logits of a tfjs layers classifier.
 *
 * Every architecture here ends with one Dense prediction layer (softmax, or 1 sigmoid unit for 2
 * classes) whose input is the feature vector: PartsNet's GlobalAveragePooling (after dropout, an
 * identity at inference), the pretrained bases' `head_pool`, Tiny VGG's `fc1` (Flatten -> Dense 64
 * ReLU -> Dense). `featureAndLogitModel` builds a sub-model that outputs that Dense layer's input and
 * copies the layer's kernel and bias, so logits = features · W + b are computed without the
 * activation. For the sigmoid head the single logit z becomes the 2-class logits [0, z]
 * (softmax([0, z]) = [1 - σ(z), σ(z)], the model's own probabilities).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { RawImage } from '@parts/data';
import type { ClassifierMeta } from '../types';
import { imagesToBatch } from '../classifier';

export interface FeatureAndLogitModel {
  /** images -> penultimate features [n, featureDim]; shares layers (and weights) with the model. */
  featureModel: tfl.LayersModel;
  /** Copy of the final Dense kernel [featureDim, units] and bias [units]. */
  kernel: tf.Tensor2D;
  bias: tf.Tensor1D;
  featureDim: number;
  /** Number of class logits produced (2 for a 1-unit sigmoid head). */
  numClasses: number;
  activation: 'softmax' | 'sigmoid';
  /** Name of the Dense layer whose input is taken as features. */
  denseLayer: string;
  /** Disposes the kernel/bias copies (not the shared model layers). */
  dispose(): void;
}

export interface FeaturesAndLogits {
  /** Row-major [n, featureDim]. */
  features: Float32Array;
  /** Row-major [n, numClasses] pre-activation class logits. */
  logits: Float32Array;
  n: number;
  featureDim: number;
  numClasses: number;
}

/** The final Dense layer of `model` and its sub-model up to that layer's input. */
export function featureAndLogitModel(model: tfl.LayersModel): FeatureAndLogitModel {
  if (model.outputs.length !== 1) throw new Error(`model ${model.name}: expected 1 output, got ${model.outputs.length}`);
  const last = model.outputs[0].sourceLayer as tfl.layers.Layer;
  if (last.getClassName() !== 'Dense') {
    throw new Error(`model ${model.name}: the last layer "${last.name}" is ${last.getClassName()}, expected a Dense prediction layer`);
  }
  const config = last.getConfig() as { activation?: string; useBias?: boolean; units?: number };
  const activation = config.activation;
  if (activation !== 'softmax' && activation !== 'sigmoid') {
    throw new Error(`model ${model.name}: the last layer "${last.name}" has activation ${String(activation)}, expected softmax or sigmoid`);
  }
  // The Dense layer can be shared (feature extraction builds a head model on the same layer), so
  // take its input at the node that produced this model's output.
  const input = last.getInputAt(model.outputs[0].nodeIndex);
  if (Array.isArray(input)) throw new Error(`model ${model.name}: the last layer "${last.name}" has ${input.length} inputs, expected 1`);
  const weights = last.getWeights();
  const kernel = weights[0].clone() as tf.Tensor2D;
  const units = kernel.shape[1];
  const bias = (weights[1] ? weights[1].clone() : tf.zeros([units])) as tf.Tensor1D;
  if (activation === 'sigmoid' && units !== 1) {
    tf.dispose([kernel, bias]);
    throw new Error(`model ${model.name}: sigmoid head with ${units} units; only the 1-unit binary head is supported`);
  }
  const featureModel = tfl.model({ inputs: model.inputs, outputs: input as tfl.SymbolicTensor, name: `${model.name}_penultimate` });
  return {
    featureModel,
    kernel,
    bias,
    featureDim: kernel.shape[0],
    numClasses: activation === 'sigmoid' ? 2 : units,
    activation,
    denseLayer: last.name,
    dispose: () => tf.dispose([kernel, bias]),
  };
}

/** Class logits [n, numClasses] from features [n, featureDim] (a tensor the caller owns). */
export function logitsFromFeatures(fl: FeatureAndLogitModel, features: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const z = tf.add(tf.matMul(features, fl.kernel), fl.bias) as tf.Tensor2D;
    return fl.activation === 'sigmoid' ? (tf.concat([tf.zerosLike(z), z], 1) as tf.Tensor2D) : z;
  });
}

/**
 * Features and logits of images already at the model's size, in batches; reads asynchronously and
 * disposes every intermediate tensor.
 */
export async function computeFeaturesAndLogits(
  fl: FeatureAndLogitModel,
  images: RawImage[],
  meta: Pick<ClassifierMeta, 'imgSize' | 'preprocess'>,
  batchSize = 16,
): Promise<FeaturesAndLogits> {
  const n = images.length;
  const features = new Float32Array(n * fl.featureDim);
  const logits = new Float32Array(n * fl.numClasses);
  for (let start = 0; start < n; start += batchSize) {
    const chunk = images.slice(start, start + batchSize);
    const [f, z] = tf.tidy(() => {
      const feats = fl.featureModel.predict(imagesToBatch(chunk, meta)) as tf.Tensor;
      const flat = tf.reshape(feats, [chunk.length, fl.featureDim]) as tf.Tensor2D;
      return [flat, logitsFromFeatures(fl, flat)];
    });
    try {
      features.set((await f.data()) as Float32Array, start * fl.featureDim);
      logits.set((await z.data()) as Float32Array, start * fl.numClasses);
    } finally {
      tf.dispose([f, z]);
    }
  }
  return { features, logits, n, featureDim: fl.featureDim, numClasses: fl.numClasses };
}
