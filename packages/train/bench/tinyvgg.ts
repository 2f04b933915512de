// Tiny VGG as in the study (Conv 50·3×3 ×2, max-pool, Conv 50·3×3 ×2, max-pool, flatten, dense 64,
// sigmoid output), built directly so the GPU scripts do not depend on the model zoo's state.
// Must stay the same network as torch_reference.py.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { createAdam } from '@parts/backend';
import { reluConv2d } from '@parts/models';

export function tinyVgg(imgSize: number, seed = 1): tfl.LayersModel {
  let s = seed;
  const init = () => tfl.initializers.glorotUniform({ seed: s++ });
  // The zoo's ReLU conv layer: trains through the fused op on WebGPU (packages/models/src/archs/relu-conv.ts).
  const conv = () => reluConv2d({ filters: 50, kernelSize: 3, activation: 'relu', kernelInitializer: init() });
  return tfl.sequential({
    layers: [
      tfl.layers.inputLayer({ inputShape: [imgSize, imgSize, 3] }),
      conv(), conv(), tfl.layers.maxPooling2d({ poolSize: 2 }),
      conv(), conv(), tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 64, activation: 'relu', kernelInitializer: init() }),
      tfl.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: init() }),
    ],
  });
}

/** One Adam step on binary cross-entropy; returns the loss tensor (caller awaits/disposes). */
export function makeTrainStep(model: tfl.LayersModel, lr = 1e-4): { step: (x: tf.Tensor, y: tf.Tensor) => tf.Scalar; dispose: () => void } {
  const opt = createAdam(lr);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  return {
    step: (x, y) =>
      opt.minimize(() => {
        const p = model.apply(x, { training: true }) as tf.Tensor;
        return tf.losses.sigmoidCrossEntropy(y, tf.log(tf.div(p, tf.sub(1 + 1e-7, p))));
      }, true, vars) as tf.Scalar,
    dispose: () => opt.dispose(),
  };
}
