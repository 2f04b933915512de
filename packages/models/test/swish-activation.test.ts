// SwishActivation: tfjs-layers' swish Activation everywhere but WebGPU (same values, same saved
// form), and on WebGPU the fused one-program swish with cpu's loss and gradients. The WebGPU part
// runs where an adapter exists (scripts/test-webgpu.sh, CI's lavapipe run).
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { SwishActivation, swishActivation } from '../src/archs/swish';
import { expectCloseL2, lossAndGrads, webgpuForTests, webgpuTimeout } from '../../backend/test/webgpu-fixtures';

const adapter = await webgpuForTests('SwishActivation WebGPU tests');

function model(fused: boolean): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [7, 7, 2], filters: 5, kernelSize: 3, kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }),
      fused ? swishActivation({ name: 'act' }) : tfl.layers.activation({ activation: 'swish', name: 'act' }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 1, kernelInitializer: tfl.initializers.glorotUniform({ seed: 5 }) }),
    ],
  });
}

/** Loss, gradients (in weight order) and the kernels run. */
async function step(m: tfl.LayersModel, xv: Float32Array, yv: Float32Array): Promise<{ values: Float32Array[]; kernels: string[] }> {
  const x = tf.tensor4d(xv, [3, 7, 7, 2]);
  const y = tf.tensor2d(yv, [3, 1]);
  let values: Float32Array[] = [];
  const prof = await tf.profile(async () => {
    values = await lossAndGrads(m, x, y);
  });
  tf.dispose([x, y]);
  return { values, kernels: prof.kernelNames };
}

const inputs = () => tf.tidy(() => [tf.randomNormal([3, 7, 7, 2], 0, 2, 'float32', 7).dataSync() as Float32Array, Float32Array.from([1, -1, 0.5])] as const);

describe('SwishActivation off WebGPU', () => {
  it("computes what tfjs-layers' swish computes (values and gradients) and saves as a plain Activation", async () => {
    await tf.setBackend('cpu');
    const [xv, yv] = inputs();
    const [fused, plain] = [model(true), model(false)];
    const [a, b] = [await step(fused, xv, yv), await step(plain, xv, yv)];
    a.values.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(b.values[i])));
    const layer = fused.getLayer('act');
    expect(layer).toBeInstanceOf(SwishActivation);
    expect(layer.getClassName()).toBe('Activation');
    expect(JSON.stringify(fused.toJSON(null, false))).toContain('"activation":"swish"');
    fused.dispose();
    plain.dispose();
  });
});

describe.skipIf(!adapter)('SwishActivation on WebGPU', () => {
  it("runs the fused kernels, with cpu's loss and gradients", async () => {
    await tf.setBackend('cpu');
    const [xv, yv] = inputs();
    const cpuModel = model(false);
    const cpu = await step(cpuModel, xv, yv);
    cpuModel.dispose();
    await tf.setBackend('webgpu');
    const gpuModel = model(true);
    const gpu = await step(gpuModel, xv, yv);
    gpuModel.dispose();
    await tf.setBackend('cpu');
    expect(gpu.kernels).toEqual(expect.arrayContaining(['PartsSwish', 'PartsSwishGrad']));
    expect(gpu.kernels).not.toContain('Sigmoid');
    expectCloseL2(gpu.values, cpu.values, 1e-5);
  }, webgpuTimeout(5));
});
