// PlainConv2D: the values and gradients of tfjs-layers' Conv2D, saved as a plain Conv2D, without
// the gradient for the photo that tf.fused.conv2d's custom gradient computes in the first layer.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@parts/backend';
import { PlainConv2D, plainConv2d } from '../src/archs/plain-conv';
import { lossAndGrads } from '../../backend/test/webgpu-fixtures';

beforeAll(async () => {
  await initBackend('cpu', () => {});
});

function twoModels(): [tfl.LayersModel, tfl.LayersModel] {
  const make = (plain: boolean) => {
    const args = { filters: 6, kernelSize: 3, strides: 2, padding: 'same' as const, useBias: false, kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) };
    return tfl.sequential({
      layers: [tfl.layers.inputLayer({ inputShape: [9, 9, 2] }), plain ? plainConv2d(args) : tfl.layers.conv2d(args), tfl.layers.flatten(), tfl.layers.dense({ units: 1, kernelInitializer: tfl.initializers.glorotUniform({ seed: 5 }) })],
    });
  };
  return [make(true), make(false)];
}

describe('PlainConv2D', () => {
  it('computes what tfjs-layers Conv2D computes (values and gradients), without the input\'s gradient, and saves as a plain Conv2D', async () => {
    await tf.setBackend('cpu');
    const [plain, layers] = twoModels();
    const x = tf.randomNormal([2, 9, 9, 2], 0, 1, 'float32', 7);
    const y = tf.randomNormal([2, 1], 0, 1, 'float32', 8);
    let a: Float32Array[] = [];
    const prof = await tf.profile(async () => {
      a = await lossAndGrads(plain, x, y);
    });
    const b = await lossAndGrads(layers, x, y);
    a.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(b[i]!)));
    expect(prof.kernelNames).toContain('Conv2DBackpropFilter');
    expect(prof.kernelNames).not.toContain('Conv2DBackpropInput');
    const inference = [plain.predict(x) as tf.Tensor, layers.predict(x) as tf.Tensor];
    expect(Array.from(await inference[0]!.data())).toEqual(Array.from(await inference[1]!.data()));
    const conv = plain.layers.find((l) => l instanceof PlainConv2D);
    expect(conv?.getClassName()).toBe('Conv2D');
    const json = JSON.parse(JSON.stringify(plain.toJSON(null, false))) as { config: { layers: { class_name: string }[] } };
    expect(json.config.layers.map((l) => l.class_name)).toContain('Conv2D');
    tf.dispose([x, y, ...inference]);
    plain.dispose();
    layers.dispose();
  });

  it('refuses a bias or an activation', () => {
    expect(() => plainConv2d({ filters: 1, kernelSize: 1 })).toThrow(/useBias/);
    expect(() => plainConv2d({ filters: 1, kernelSize: 1, useBias: false, activation: 'relu' })).toThrow(/linear/);
  });
});
