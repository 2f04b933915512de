// A training step on WebGPU through every fused path (ReLU conv, batch norm with batch statistics,
// swish, the fused Adam update) leaves nothing behind: tensors and GPU bytes are the same after each
// step. Runs where a WebGPU adapter exists (scripts/test-webgpu.sh, CI's lavapipe run).
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { createAdam } from '../../backend/src/webgpu/index';
import { batchNormalization } from '../src/bn-fix';
import { reluConv2d } from '../src/archs/relu-conv';
import { swishActivation } from '../src/archs/swish';
import { webgpuForTests, webgpuTimeout } from '../../backend/test/webgpu-fixtures';

const adapter = await webgpuForTests('WebGPU memory test');

describe.skipIf(!adapter)('training on WebGPU', () => {
  it('holds the same tensors and GPU memory after every step', async () => {
    await tf.setBackend('webgpu');
    const model = tfl.sequential({
      layers: [
        reluConv2d({ inputShape: [12, 12, 3], filters: 8, kernelSize: 3, activation: 'relu' }),
        tfl.layers.conv2d({ filters: 8, kernelSize: 3, useBias: false }),
        batchNormalization({ axis: 3 }),
        swishActivation(),
        tfl.layers.flatten(),
        tfl.layers.dense({ units: 1 }),
      ],
    });
    const x = tf.randomUniform([4, 12, 12, 3], 0, 1, 'float32', 1);
    const y = tf.tensor2d([1, 0, 1, 0], [4, 1]);
    const opt = createAdam(0.01);
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const step = async () => {
      const loss = opt.minimize(() => tf.losses.meanSquaredError(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, true, vars)!;
      await loss.data();
      loss.dispose();
      const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
      return { tensors: m.numTensors, gpuBytes: m.numBytesInGPU };
    };
    const prof = await tf.profile(async () => void (await step())); // step 1 creates Adam's moments
    expect(prof.kernelNames).toEqual(expect.arrayContaining(['PartsConvBiasRelu', 'PartsBatchNormTrain', 'PartsSwish', 'PartsAdamMoments']));
    const after = [await step(), await step(), await step()];
    expect(after[1]).toEqual(after[0]);
    expect(after[2]).toEqual(after[0]);
    tf.dispose([x, y]);
    opt.dispose();
    model.dispose();
    await tf.setBackend('cpu');
  }, webgpuTimeout(5));
});
