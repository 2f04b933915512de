// Shared set-up of the callback tests: a FitState without a loop behind it (each test drives the
// events by hand, as the loop would), a tiny dense model, and batches for running fitLoop itself.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { FitState } from '../../src/callbacks/callback';
import type { Batch } from '../../src/fit-loop';
import type { EpochRecord } from '../../src/run-folder';

export type TestState = Omit<FitState, 'epoch' | 'step' | 'lr'> & { epoch: number; step: number; lr: number; lrs: number[]; untimedCalls: number };

/** A state whose setLearningRate records each rate; readFigures and untimed just run. */
export function testState(model: tfl.LayersModel, over: Partial<TestState> = {}): TestState {
  const s: TestState = {
    model,
    epochs: 5,
    batchesPerEpoch: 2,
    history: { epochs: [], bestEpoch: 0, monitor: 'loss', stoppedEarly: false },
    epoch: 0,
    step: 0,
    lr: 0.01,
    lrs: [],
    untimedCalls: 0,
    running: { loss: NaN, acc: NaN },
    stopTraining: false,
    setLearningRate(lr) {
      s.lr = lr;
      s.lrs.push(lr);
    },
    readFigures: async () => {},
    untimed: async (fn) => {
      s.untimedCalls++;
      await fn();
    },
    ...over,
  };
  return s;
}

/** Dense 2 -> 3 (relu) -> 2 (softmax) with seeded kernels. */
export function tinyModel(): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ inputShape: [2], units: 3, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }),
      tfl.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
}

/** A fresh batch of four points of two classes for tinyModel (the loop disposes batches). */
export function tinyBatch(): Batch {
  const labels = [0, 1, 0, 1];
  return {
    x: tf.tensor2d([[1, 0], [0, 1], [0.9, 0.2], [0.1, 0.8]]),
    y: tf.tensor2d(labels.map((l) => (l ? [0, 1] : [1, 0]))),
    labels,
  };
}

export function weightsOf(model: tfl.LayersModel): number[][] {
  return model.getWeights().map((w) => Array.from(w.dataSync()));
}

/** An epoch's record as the loop appends it (figures that no callback under test reads). */
export function epochRecord(epoch: number): EpochRecord {
  return { epoch, loss: 1, acc: 0, lr: 0.01, timeMs: 0 };
}

/** Sets every weight of the model to `value`. */
export function setAllWeights(model: tfl.LayersModel, value: number): void {
  tf.tidy(() => model.setWeights(model.getWeights().map((w) => tf.fill(w.shape, value))));
}
