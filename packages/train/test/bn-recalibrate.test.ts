// Batch-norm recalibration: the moving statistics become the plain mean of the per-batch statistics.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@parts/backend';
import { batchNormalization } from '@parts/models';
import { recalibrateBatchNorm } from '../src/bn-recalibrate';

beforeAll(async () => {
  await initBackend('cpu', () => {});
});

const bnModel = () => {
  const bn = batchNormalization({ momentum: 0.9, name: 'bn' });
  const model = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [2], units: 2, useBias: false, kernelInitializer: 'identity', name: 'd' }), bn] });
  return { model, bn };
};
const stats = (bn: ReturnType<typeof batchNormalization>) => bn.getWeights().map((w) => Array.from(w.dataSync()));

describe('recalibrateBatchNorm', () => {
  it('sets the moving mean and variance to the mean of the batch statistics, touching nothing else', () => {
    const { model, bn } = bnModel();
    const [gamma, beta] = stats(bn);
    const a = [[0, 10], [2, 10]]; // means 1, 10; variances 1, 0
    const b = [[4, 0], [4, 2], [4, 4], [4, 6]]; // means 4, 3; variances 0, 5
    const count = tf.memory().numTensors;
    expect(recalibrateBatchNorm(model, [tf.tensor2d(a), tf.tensor2d(b)])).toBe(1);
    expect(tf.memory().numTensors).toBe(count); // the batches were disposed
    const [g, be, mean, variance] = stats(bn);
    expect(g).toEqual(gamma);
    expect(be).toEqual(beta);
    expect(mean[0]).toBeCloseTo(2.5, 5);
    expect(mean[1]).toBeCloseTo(6.5, 5);
    expect(variance[0]).toBeCloseTo(0.5, 5);
    expect(variance[1]).toBeCloseTo(2.5, 5);
    // The layer's momentum is back: one more training batch moves the mean by 10% of the gap.
    tf.tidy(() => void model.apply(tf.tensor2d([[12.5, 6.5], [12.5, 6.5]]), { training: true }));
    expect(stats(bn)[2][0]).toBeCloseTo(2.5 + 0.1 * 10, 4);
    model.dispose();
  });

  it('returns 0 for a model without batch norm, and fails without batches', () => {
    const plain = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [2], units: 1 })] });
    const x = tf.zeros([1, 2]);
    expect(recalibrateBatchNorm(plain, [x])).toBe(0);
    expect(x.isDisposed).toBe(true);
    const { model } = bnModel();
    expect(() => recalibrateBatchNorm(model, [])).toThrow(/no batches/);
    plain.dispose();
    model.dispose();
  });
});
