// ReluConv2D: plain Conv2D everywhere but WebGPU (same values, same saved form), and on WebGPU a
// training step through the fused op with the same loss and gradients as on cpu. The WebGPU part
// runs where an adapter exists (scripts/test-webgpu.sh, CI's lavapipe run).
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { buildTinyVgg } from '../src/archs/tinyvgg';
import { ReluConv2D, reluConv2d } from '../src/archs/relu-conv';
import { expectCloseL2, lossAndGrads, webgpuForTests, webgpuTimeout } from '../../backend/test/webgpu-fixtures';

const adapter = await webgpuForTests('ReluConv2D WebGPU tests');

function twoModels(): [tfl.LayersModel, tfl.LayersModel] {
  const make = (fused: boolean) => {
    const args = { filters: 6, kernelSize: 3, activation: 'relu' as const, kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }), biasInitializer: tfl.initializers.randomNormal({ seed: 4 }) };
    return tfl.sequential({
      layers: [tfl.layers.inputLayer({ inputShape: [9, 9, 2] }), fused ? reluConv2d(args) : tfl.layers.conv2d(args), tfl.layers.flatten(), tfl.layers.dense({ units: 1, kernelInitializer: tfl.initializers.glorotUniform({ seed: 5 }) })],
    });
  };
  return [make(true), make(false)];
}

describe('ReluConv2D off WebGPU', () => {
  it('computes what tfjs-layers Conv2D computes (values and gradients) and saves as a plain Conv2D', async () => {
    await tf.setBackend('cpu');
    const [fused, plain] = twoModels();
    const x = tf.randomNormal([2, 9, 9, 2], 0, 1, 'float32', 7);
    const y = tf.randomNormal([2, 1], 0, 1, 'float32', 8);
    const [a, b] = [await lossAndGrads(fused, x, y), await lossAndGrads(plain, x, y)];
    a.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(b[i])));
    const conv = fused.layers.find((l) => l instanceof ReluConv2D);
    expect(conv?.getClassName()).toBe('Conv2D');
    const json = JSON.parse(JSON.stringify(fused.toJSON(null, false))) as { config: { layers: { class_name: string }[] } };
    expect(json.config.layers.map((l) => l.class_name)).toContain('Conv2D');
    tf.dispose([x, y]);
    fused.dispose();
    plain.dispose();
  });

  it('refuses other activations', () => {
    expect(() => reluConv2d({ filters: 1, kernelSize: 1, activation: 'sigmoid' })).toThrow(/relu/);
  });
});

describe.skipIf(!adapter)('ReluConv2D on WebGPU', () => {
  it("trains Tiny VGG through the fused op with cpu's loss and gradients", async () => {
    const build = () => buildTinyVgg({ imgSize: 20, numClasses: 2, seed: 11 });
    const xv = tf.tidy(() => tf.randomUniform([2, 20, 20, 3], 0, 1, 'float32', 12).dataSync());
    const yv = Float32Array.from([1, 0]);
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const model = build();
      const x = tf.tensor4d(xv, [2, 20, 20, 3]);
      const y = tf.tensor2d(yv, [2, 1]);
      let kernels: string[] = [];
      let result: Float32Array[] = [];
      const prof = await tf.profile(async () => {
        result = await lossAndGrads(model, x, y);
      });
      kernels = prof.kernelNames;
      tf.dispose([x, y]);
      model.dispose();
      return { result, kernels };
    };
    const cpu = await run('cpu');
    const gpu = await run('webgpu');
    await tf.setBackend('cpu');
    expect(gpu.kernels).toContain('PartsReluGrad');
    expect(cpu.kernels).not.toContain('PartsReluGrad');
    expectCloseL2(gpu.result, cpu.result, 1e-4);
  }, webgpuTimeout(5));
});
