// Parameter counts, output shapes at the default and the minimum input size (with a real forward
// pass at the minimum, where it is cheap), size validation, Tiny VGG outputs, seeded init.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@parts/backend';
import { getArch, listArchs } from '../src/registry';
import { buildTinyVgg } from '../src/archs/tinyvgg';
import { buildEfficientNetB0Base } from '../src/archs/efficientnetb0';

beforeAll(async () => {
  await initBackend('cpu', () => {});
});

// Expected figures of each pretrained base (Keras Applications' counts); the bases themselves come
// from the registry, so a newly registered base fails here until its figures are added.
const figures: Record<string, { params: number; at256: number[]; min: number; atMin: number[] }> = {
  vgg16: { params: 14_714_688, at256: [8, 8, 512], min: 32, atMin: [1, 1, 512] },
  resnet50: { params: 23_587_712, at256: [8, 8, 2048], min: 32, atMin: [1, 1, 2048] },
  inception: { params: 21_802_784, at256: [6, 6, 2048], min: 75, atMin: [1, 1, 2048] },
  efficientnet: { params: 4_049_571, at256: [8, 8, 1280], min: 32, atMin: [1, 1, 1280] },
};

const bases = listArchs()
  .filter((a) => a.pretrained)
  .map((a) => ({ arch: a.name, build: (o: { imgSize: number; seed?: number }): tfl.LayersModel => a.buildBase!(o), ...figures[a.name] }));

it('has expected figures for every pretrained base in the registry', () => {
  expect(bases.map((b) => b.arch).sort()).toEqual(Object.keys(figures).sort());
});

describe.each(bases)('$arch base', ({ arch, build, params, at256, min, atMin }) => {
  it(`has ${params} parameters and outputs ${at256.join('x')} at 256 px`, () => {
    const model = build({ imgSize: 256 });
    expect(model.countParams()).toBe(params);
    expect(model.inputs[0]!.shape).toEqual([null, 256, 256, 3]);
    expect(model.outputs[0]!.shape).toEqual([null, ...at256]);
    expect(getArch(arch).defaultImgSize).toBe(256);
    model.dispose();
  });

  it(`runs at its minimum size ${min} px`, () => {
    const spec = getArch(arch);
    expect(spec.minImgSize).toBe(min);
    const model = build({ imgSize: min, seed: 3 });
    expect(model.countParams()).toBe(params); // weights do not depend on the input size
    const out = tf.tidy(() => model.predict(tf.randomUniform([1, min, min, 3], 0, 255, 'float32', 1)) as tf.Tensor);
    expect(out.shape).toEqual([1, ...atMin]);
    expect(Array.from(out.dataSync()).every(Number.isFinite)).toBe(true);
    out.dispose();
    model.dispose();
  });

  it('rejects sizes it cannot take, naming the arch and the minimum', () => {
    for (const bad of [min - 1, 0, -5, 100.5, Number.NaN]) {
      expect(() => build({ imgSize: bad })).toThrow(new RegExp(`^\\w+: input size must be an integer >= ${min} pixels`));
    }
  });
});

describe('tinyvgg', () => {
  it('is the study architecture with a sigmoid unit for 2 classes', () => {
    const model = buildTinyVgg({ imgSize: 256, numClasses: 2 });
    expect(model.layers.map((l) => l.getClassName())).toEqual([
      'InputLayer', 'Conv2D', 'Conv2D', 'MaxPooling2D', 'Conv2D', 'Conv2D', 'MaxPooling2D', 'Flatten', 'Dense', 'Dense',
    ]);
    // 256 -> 254 -> 252 -> 126 -> 124 -> 122 -> 61; flatten 61*61*50 = 186050.
    const expected =
      (3 * 3 * 3 * 50 + 50) + (3 * 3 * 50 * 50 + 50) * 3 + (186_050 * 64 + 64) + (64 * 1 + 1);
    expect(model.countParams()).toBe(expected);
    const last = model.layers.at(-1)!.getConfig() as { units: number; activation: string };
    expect(last).toMatchObject({ units: 1, activation: 'sigmoid' });
    model.dispose();
  });

  it('uses softmax for more classes and trains at its minimum size', async () => {
    const model = buildTinyVgg({ imgSize: 16, numClasses: 8, seed: 1 });
    expect(model.outputs[0]!.shape).toEqual([null, 8]);
    expect((model.layers.at(-1)!.getConfig() as { activation: string }).activation).toBe('softmax');
    model.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
    const x = tf.randomUniform([4, 16, 16, 3], 0, 1, 'float32', 2);
    const y = tf.oneHot(tf.tensor1d([0, 3, 5, 7], 'int32'), 8);
    const h = await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
    expect(Number.isFinite(h.history.loss![0] as number)).toBe(true);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('rejects bad sizes and class counts', () => {
    expect(() => buildTinyVgg({ imgSize: 15, numClasses: 2 })).toThrow(/tinyvgg: input size must be an integer >= 16/);
    expect(() => buildTinyVgg({ imgSize: 64, numClasses: 1 })).toThrow(/numClasses must be an integer >= 2/);
  });
});

describe('seeded initialisation', () => {
  const layerWeights = (m: tfl.LayersModel, name: string) => m.getLayer(name).getWeights().map((w) => Array.from(w.dataSync()));

  it('gives identical weights for the same seed and different ones for another seed', () => {
    const a = buildEfficientNetB0Base({ imgSize: 32, seed: 7 });
    const b = buildEfficientNetB0Base({ imgSize: 32, seed: 7 });
    const c = buildEfficientNetB0Base({ imgSize: 32, seed: 8 });
    for (const name of ['stem_conv', 'block1a_dwconv', 'block4b_se_reduce', 'top_conv']) {
      expect(layerWeights(a, name), name).toEqual(layerWeights(b, name));
      expect(layerWeights(a, name)[0], name).not.toEqual(layerWeights(c, name)[0]);
    }
    // Distinct layers get distinct streams (equal-shaped kernels do not repeat each other).
    const t = buildTinyVgg({ imgSize: 16, numClasses: 2, seed: 7 });
    expect(layerWeights(t, 'block1_conv2')[0]!.slice(0, 10)).not.toEqual(layerWeights(t, 'block2_conv1')[0]!.slice(0, 10));
    [a, b, c, t].forEach((m) => m.dispose());
  });
});
