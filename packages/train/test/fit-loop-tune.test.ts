// The training loop's kernel-tuning hook: an autotuning backend (WebGPU) must see the first step's
// shapes before it times anything, and the last partial batch's and validation's by the end of
// epoch 1; later epochs run tuned, with no more pauses.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@parts/backend';
import { fitLoop, type Batch } from '../src/fit-loop';

beforeAll(async () => {
  await initBackend('wasm', () => {});
});

describe('fitLoop tuneKernels', () => {
  it('is awaited after the first step (its loss already read) and after epoch 1, never later', async () => {
    const model = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [3], units: 1, activation: 'sigmoid' })] });
    const events: string[] = [];
    const batch = (tag: string, n: number): Batch => {
      events.push(tag);
      const labels = Array.from({ length: n }, (_, i) => i % 2);
      return { x: tf.randomUniform([n, 3], 0, 1, 'float32', n), y: tf.tensor2d(labels, [n, 1]), labels };
    };
    const before = tf.memory().numTensors;
    const history = await fitLoop({
      model,
      epochs: 3,
      lr: 0.01,
      activation: 'sigmoid',
      classWeights: null,
      labelSmoothing: 0,
      patience: 0,
      batchesPerEpoch: 3,
      trainBatches: function* (epoch): Generator<Batch> {
        for (let b = 1; b <= 3; b++) yield batch(`e${epoch}b${b}`, b === 3 ? 2 : 4);
      },
      valBatches: function* (): Generator<Batch> {
        yield batch('val', 3);
      },
      progress: {
        start: () => {},
        tick: (m) => events.push(`tick ${Number.isNaN(m.loss) ? 'unread' : 'read'}`),
        end: () => {},
      },
      tuneKernels: async () => {
        events.push('tune');
      },
    });
    expect(history.epochs).toHaveLength(3);
    expect(events.slice(0, 9)).toEqual(['e1b1', 'tune', 'tick read', 'e1b2', 'tick read', 'e1b3', 'tick read', 'val', 'tune']);
    expect(events.filter((e) => e === 'tune')).toHaveLength(2);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
