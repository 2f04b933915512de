// The project's BatchNormalization trains through the fused WebGPU batch norm (statistics,
// normalisation and gradient in a few programs) with cpu's loss, gradients and moving statistics.
// Runs where a WebGPU adapter exists (scripts/test-webgpu.sh, CI's lavapipe run).
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { batchNormalization } from '../src/bn-fix';
import { expectCloseL2, lossAndGrads, webgpuForTests, webgpuTimeout } from '../../backend/test/webgpu-fixtures';

const adapter = await webgpuForTests('BatchNormalization WebGPU tests');

function model(scale: boolean): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [8, 8, 3], filters: 6, kernelSize: 3, useBias: false, kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }),
      batchNormalization({ axis: 3, scale, name: 'bn', betaInitializer: tfl.initializers.randomNormal({ seed: 4 }) }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 1, kernelInitializer: tfl.initializers.glorotUniform({ seed: 5 }) }),
    ],
  });
}

/** Loss, gradients, moving mean and variance after one step, and the kernels run. */
async function step(backend: string, scale: boolean, xv: Float32Array, yv: Float32Array) {
  await tf.setBackend(backend);
  const m = model(scale);
  const x = tf.tensor4d(xv, [4, 8, 8, 3]);
  const y = tf.tensor2d(yv, [4, 1]);
  let values: Float32Array[] = [];
  const prof = await tf.profile(async () => {
    values = await lossAndGrads(m, x, y);
  });
  const moving = await Promise.all(m.getLayer('bn').getWeights().slice(-2).map((w) => w.data() as Promise<Float32Array>));
  tf.dispose([x, y]);
  m.dispose();
  return { values: [...values, ...moving], kernels: prof.kernelNames };
}

describe.skipIf(!adapter)('BatchNormalization on WebGPU', () => {
  for (const scale of [true, false]) {
    it(`trains through the fused kernel with cpu's loss, gradients and moving statistics (scale: ${scale})`, async () => {
      await tf.setBackend('cpu');
      const xv = tf.tidy(() => tf.randomNormal([4, 8, 8, 3], 1, 2, 'float32', 7).dataSync() as Float32Array);
      const yv = Float32Array.from([1, -1, 0.5, 0]);
      const cpu = await step('cpu', scale, xv, yv);
      const gpu = await step('webgpu', scale, xv, yv);
      await tf.setBackend('cpu');
      expect(gpu.kernels).toContain('PartsBatchNormTrain');
      expect(gpu.kernels).not.toContain('FusedBatchNorm');
      expectCloseL2(gpu.values, cpu.values, 1e-4);
    }, webgpuTimeout(5));
  }
});
