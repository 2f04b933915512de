// Decoupled weight decay: after each step, exactly the conv/dense kernels shrink by (1 - lr * rate).
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@parts/backend';
import { decayedVariables, weightDecayCallback } from '../../src/callbacks/weight-decay';
import { testState } from './fixtures';

beforeAll(async () => {
  await initBackend('cpu', () => {});
});

function convNet(): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3, kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }), biasInitializer: 'ones' }),
      tfl.layers.batchNormalization(),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 2, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }), biasInitializer: 'ones' }),
    ],
  });
}

describe('weightDecayCallback', () => {
  it('decays the conv and dense kernels, not biases or batch-norm parameters', () => {
    const model = convNet();
    const names = (vars: tf.Variable[]) => vars.map((v) => v.name.split('/').pop());
    expect(names(decayedVariables(model))).toEqual(['kernel', 'kernel']);
    expect(model.trainableWeights.length).toBe(6); // + 2 biases, gamma, beta
    model.dispose();
  });

  it('multiplies each decayed variable by (1 - lr * rate) per step, at the current rate, without leaking tensors', () => {
    const model = convNet();
    const values = () => model.trainableWeights.map((w) => Array.from((w.read() as tf.Variable).dataSync()));
    const kernelIdx = model.trainableWeights.map((w, i) => (/kernel$/.test(w.name) ? i : -1)).filter((i) => i >= 0);
    const cb = weightDecayCallback(0.5);
    const s = testState(model, { lr: 0.2 });
    cb.onTrainBegin!(s);
    const v0 = values();
    const count = tf.memory().numTensors;
    s.step = 1;
    cb.onStepEnd!(s);
    s.setLearningRate(0.1);
    s.step = 2;
    cb.onStepEnd!(s);
    expect(tf.memory().numTensors).toBe(count);
    const v2 = values();
    v0.forEach((v, i) => {
      const factor = kernelIdx.includes(i) ? (1 - 0.2 * 0.5) * (1 - 0.1 * 0.5) : 1;
      v.forEach((x, j) => expect(v2[i][j]).toBeCloseTo(x * factor, 6));
    });
    expect(v2[kernelIdx[0]].some((x, j) => x !== v0[kernelIdx[0]][j])).toBe(true);
    model.dispose();
  });
});
