import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { fusedBatchNormTrain, fusedBatchNormTrainAvailable, initBackend } from '../src/index';
import { on, relErr, tensor } from './helpers';

beforeAll(async () => {
  await initBackend('wasm', () => {});
});

const EPS = 1e-3;

/**
 * y, mean, variance and the gradients of Σ(y·w) for x, γ, β: fused on wasm, or tf.moments + tf.batchNorm
 * (the reference); with `relu`, through a ReLU (fused into the kernels, or tf.relu after the reference).
 */
function bnTrain(shape: number[], fused: boolean, relu = false): tf.Tensor[] {
  const c = shape[shape.length - 1]!;
  const x = tf.add(tf.mul(tensor(shape, 11), 3), 0.5); // mean and scale away from 0/1
  const gamma = tf.add(tensor([c], 12), 1.5) as tf.Tensor1D;
  const beta = tensor([c], 13) as tf.Tensor1D;
  const w = tensor(shape, 14);
  const run = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
    if (fused) return fusedBatchNormTrain(xx, g as tf.Tensor1D, b as tf.Tensor1D, EPS, relu);
    const m = tf.moments(xx, [...Array(shape.length - 1).keys()]);
    const y = tf.batchNorm(xx, m.mean, m.variance, b as tf.Tensor1D, g as tf.Tensor1D, EPS);
    return { y: relu ? tf.relu(y) : y, mean: m.mean, variance: m.variance };
  };
  const { y, mean, variance } = run(x, gamma, beta);
  const [dx, dg, db] = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(run(a, g, b).y, w)))([x, gamma, beta]);
  return [y, mean as tf.Tensor, variance as tf.Tensor, dx!, dg!, db!];
}

describe('training-mode batch norm on wasm (fused kernels) matches tf.moments + tf.batchNorm on the cpu backend', () => {
  it('is available on wasm after initBackend', async () => {
    await tf.setBackend('wasm');
    expect(fusedBatchNormTrainAvailable()).toBe(true);
  });
  for (const shape of [[4, 5, 6, 7], [2, 3, 3, 1], [3, 16], [2, 9, 8, 24]]) {
    it(`x ${shape}`, async () => {
      const ref = await on('cpu', () => bnTrain(shape, false));
      const got = await on('wasm', () => bnTrain(shape, true));
      const names = ['y', 'mean', 'variance', 'dx', 'dgamma', 'dbeta'];
      for (let i = 0; i < names.length; i++) {
        expect(relErr(got[i]!, ref[i]!), names[i]).toBeLessThan(2e-5);
      }
      // The input gradient is not trivially zero.
      expect(ref[3]!.some((v) => Math.abs(v) > 1e-3)).toBe(true);
    });
  }
  for (const shape of [[4, 5, 6, 7], [2, 9, 8, 24]]) {
    it(`x ${shape} with a ReLU fused after it (its mask in the backward kernels)`, async () => {
      const ref = await on('cpu', () => bnTrain(shape, false, true));
      const got = await on('wasm', () => bnTrain(shape, true, true));
      const unfused = await on('wasm', () => bnTrain(shape, true, false));
      const names = ['y', 'mean', 'variance', 'dx', 'dgamma', 'dbeta'];
      for (let i = 0; i < names.length; i++) {
        expect(relErr(got[i]!, ref[i]!), names[i]).toBeLessThan(2e-5);
      }
      // The ReLU cuts: about half the outputs are 0, and the gradients differ from those without it.
      const zeros = got[0]!.filter((v) => v === 0).length;
      expect(zeros).toBeGreaterThan(got[0]!.length * 0.2);
      expect(zeros).toBeLessThan(got[0]!.length * 0.8);
      for (const i of [3, 4, 5]) expect(relErr(got[i]!, unfused[i]!), names[i]).toBeGreaterThan(1e-2);
    });
  }
  it('rejects parameters of the wrong length, naming the kernel', async () => {
    await tf.setBackend('wasm');
    expect(() => fusedBatchNormTrain(tf.zeros([2, 4]), tf.ones([3]) as tf.Tensor1D, tf.zeros([4]) as tf.Tensor1D, EPS)).toThrow(/PartsBatchNormTrain.*\[4\]/);
  });
});

describe('inference batch norm (FusedBatchNorm) on wasm matches the cpu backend', () => {
  const cases: { name: string; x: number[]; p: number[]; scale: boolean; offset: boolean }[] = [
    { name: 'per-channel [C] parameters (the SIMD pass)', x: [2, 5, 6, 12], p: [12], scale: true, offset: true },
    { name: 'channels not a multiple of 4, no scale or offset', x: [3, 4, 7], p: [7], scale: false, offset: false },
    { name: 'parameters shaped [1, 1, 1, C]', x: [2, 3, 3, 8], p: [1, 1, 1, 8], scale: true, offset: false },
    { name: 'parameters the shape of x (the built-in kernel)', x: [2, 3, 4], p: [2, 3, 4], scale: true, offset: true },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const run = () => {
        const variance = tf.add(tf.abs(tensor(c.p, 22)), 0.1);
        return [tf.batchNorm(tensor(c.x, 20), tensor(c.p, 21), variance, c.offset ? tensor(c.p, 23) : undefined, c.scale ? tensor(c.p, 24) : undefined, EPS)];
      };
      const ref = await on('cpu', run);
      const got = await on('wasm', run);
      expect(relErr(got[0]!, ref[0]!)).toBeLessThan(1e-5);
    });
  }
});
