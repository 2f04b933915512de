import { beforeAll, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/index';
import { trainSteps, values } from './helpers';

beforeAll(async () => {
  await initBackend('wasm', () => {});
});

/** A few SGD steps of a tiny net touching every gradient kernel the study's models need; returns losses and final weights. */
function train(backend: string): Promise<{ losses: number[]; weights: Float32Array[] }> {
  return trainSteps({
    backend,
    shapes: { c1: [3, 3, 3, 6], dw: [3, 3, 6, 1], c2: [1, 1, 6, 8], gamma: [8], beta: [8], d: [8, 1], b: [1] },
    seed: 100,
    scale: 0.5,
    steps: 3,
    optimizer: () => tf.train.sgd(0.1),
    data: () => ({ x: tf.tensor4d(values(3 * 11 * 13 * 3, 7), [3, 11, 13, 3]), y: tf.tensor2d([1, 0, 1], [3, 1]) }),
    loss: (v, x, y) => {
      let h = tf.relu<tf.Tensor4D>(tf.conv2d(x as tf.Tensor4D, v.c1 as tf.Tensor4D, 1, 'same'));
      h = tf.maxPool(h, 2, 2, 'valid'); // 11×13 → 5×6: odd input, the case the built-in MaxPoolGrad got wrong
      h = tf.depthwiseConv2d(h, v.dw as tf.Tensor4D, 2, 'same');
      h = tf.mul(h, tf.sigmoid(h)); // swish
      h = tf.conv2d(h, v.c2 as tf.Tensor4D, 1, 'valid');
      const { mean, variance } = tf.moments(h, [0, 1, 2]);
      h = tf.batchNorm4d(h, mean as tf.Tensor1D, variance as tf.Tensor1D, v.beta as tf.Tensor1D, v.gamma as tf.Tensor1D, 1e-3);
      h = tf.avgPool(tf.relu(h), 3, 1, 'same');
      const feat = tf.mean(h, [1, 2]);
      const logits = tf.add(tf.matMul(feat, v.d as tf.Tensor2D), v.b!);
      return tf.losses.sigmoidCrossEntropy(y, logits) as tf.Scalar;
    },
  });
}

it('training steps on wasm give the same losses and weights as on cpu', async () => {
  const cpu = await train('cpu');
  const wasm = await train('wasm');
  expect(cpu.losses[2]).toBeLessThan(cpu.losses[0]!); // it actually learns
  for (let i = 0; i < 3; i++) expect(wasm.losses[i]).toBeCloseTo(cpu.losses[i]!, 4);
  for (let k = 0; k < cpu.weights.length; k++) {
    const a = cpu.weights[k]!, b = wasm.weights[k]!;
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-4);
  }
});
