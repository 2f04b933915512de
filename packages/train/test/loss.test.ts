import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@parts/backend';
import { argmaxRows, balancedClassWeights, weightedCrossEntropy } from '../src/loss';

beforeAll(async () => {
  await initBackend('cpu', () => {});
});

describe('weightedCrossEntropy', () => {
  it('matches binary cross-entropy by hand, with and without class weights', async () => {
    const y = tf.tensor2d([[1], [0]]);
    const p = tf.tensor2d([[0.8], [0.3]]);
    const plain = (await weightedCrossEntropy(y, p, null, 'sigmoid').data())[0];
    expect(plain).toBeCloseTo((-Math.log(0.8) - Math.log(0.7)) / 2, 5);
    const w = tf.tensor1d([2, 0.5]);
    const weighted = (await weightedCrossEntropy(y, p, w, 'sigmoid').data())[0];
    expect(weighted).toBeCloseTo((-2 * Math.log(0.8) - 0.5 * Math.log(0.7)) / 2, 5);
    tf.dispose([y, p, w]);
  });

  it('matches categorical cross-entropy with label smoothing', async () => {
    const y = tf.tensor2d([[0, 1, 0]]);
    const p = tf.tensor2d([[0.2, 0.7, 0.1]]);
    const s = 0.3; // targets become [0.1, 0.8, 0.1]
    const v = (await weightedCrossEntropy(y, p, null, 'softmax', s).data())[0];
    expect(v).toBeCloseTo(-(0.1 * Math.log(0.2) + 0.8 * Math.log(0.7) + 0.1 * Math.log(0.1)), 5);
    tf.dispose([y, p]);
  });

  it('stays finite for saturated predictions', async () => {
    const y = tf.tensor2d([[1], [0]]);
    const p = tf.tensor2d([[0], [1]]);
    const v = (await weightedCrossEntropy(y, p, null, 'sigmoid').data())[0];
    expect(Number.isFinite(v)).toBe(true);
    expect(v).toBeGreaterThan(10);
    tf.dispose([y, p]);
  });
});

describe('balancedClassWeights', () => {
  it('gives n / (k * n_c), so an imbalanced 2:1 set weighs the minority class double', () => {
    const labels = [0, 0, 0, 0, 1, 1];
    const w = balancedClassWeights(labels, 2);
    expect(w[0]).toBeCloseTo(6 / 8);
    expect(w[1]).toBeCloseTo(6 / 4);
    expect(w[1] / w[0]).toBeCloseTo(2);
  });
});

describe('argmaxRows', () => {
  it('thresholds a single sigmoid unit at 0.5 and takes argmax of softmax rows', () => {
    expect(argmaxRows(Float32Array.from([0.2, 0.5, 0.9]), 3)).toEqual([0, 1, 1]);
    expect(argmaxRows(Float32Array.from([0.1, 0.7, 0.2, 0.5, 0.2, 0.3]), 2)).toEqual([1, 0]);
  });
});
