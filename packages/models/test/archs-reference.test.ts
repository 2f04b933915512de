// Layer-for-layer comparison of the bases with the Keras Applications topologies converted to
// tfjs (../shared/reference/keras-applications/): names, order, classes, weight shapes, configs.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@parts/backend';
import { buildVgg16Base } from '../src/archs/vgg16';
import { buildResNet50Base } from '../src/archs/resnet50';
import { buildInceptionV3Base } from '../src/archs/inceptionv3';
import { buildEfficientNetB0Base } from '../src/archs/efficientnetb0';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const refDir = path.resolve(repoRoot, '../shared/reference/keras-applications');

interface RefLayer {
  className: string;
  name: string;
  config: Record<string, unknown>;
  /** Weight shapes in Keras' order for the layer (from the weights manifest). */
  weights: Map<string, number[]>;
}

/** Reads a converted Keras model.json: layers in model order plus their weight shapes by weight name. */
function readReference(file: string): RefLayer[] {
  const json = JSON.parse(readFileSync(path.join(refDir, file), 'utf8'));
  const shapes = new Map<string, Map<string, number[]>>();
  for (const group of json.weightsManifest) {
    for (const w of group.weights as Array<{ name: string; shape: number[] }>) {
      const [layer, weight] = w.name.split('/');
      if (!shapes.has(layer!)) shapes.set(layer!, new Map());
      shapes.get(layer!)!.set(weight!, w.shape);
    }
  }
  return json.modelTopology.model_config.config.layers.map((l: { class_name: string; config: Record<string, unknown> }) => ({
    className: l.class_name,
    name: l.config.name as string,
    config: l.config,
    weights: shapes.get(l.config.name as string) ?? new Map(),
  }));
}

/** Our layer's weights as Keras names them (kernel, bias, gamma, ...) with shapes, in order. */
function weightShapes(layer: tfl.layers.Layer): Array<[string, number[]]> {
  return layer.weights.map((w) => [w.originalName.split('/').pop()!, w.shape as number[]]);
}

/** Compares conv / pooling / BN configs that decide the weight layout and the computation. */
function expectSameConfig(ours: tfl.layers.Layer, ref: RefLayer): void {
  const c = ours.getConfig() as Record<string, unknown>;
  const r = ref.config;
  const ctx = `${ref.name}`;
  switch (ref.className) {
    case 'Conv2D':
      expect(c.filters, ctx).toBe(r.filters);
      expect(c.kernelSize, ctx).toEqual(r.kernel_size);
      expect(c.strides, ctx).toEqual(r.strides);
      expect(c.padding, ctx).toBe(r.padding);
      expect(c.useBias, ctx).toBe(r.use_bias);
      expect(c.activation, ctx).toBe(r.activation);
      break;
    case 'MaxPooling2D':
    case 'AveragePooling2D':
      expect(c.poolSize, ctx).toEqual(r.pool_size);
      expect(c.strides, ctx).toEqual(r.strides);
      expect(c.padding, ctx).toBe(r.padding);
      break;
    case 'BatchNormalization':
      expect(c.epsilon, ctx).toBe(r.epsilon);
      expect(c.scale, ctx).toBe(r.scale);
      expect(c.center, ctx).toBe(r.center);
      expect(c.momentum, ctx).toBe(r.momentum);
      break;
    case 'Activation':
      expect(c.activation, ctx).toBe(r.activation);
      break;
    case 'Concatenate':
      expect(c.axis, ctx).toBe(r.axis === -1 ? 3 : r.axis);
      break;
  }
}

beforeAll(async () => {
  await initBackend('cpu', () => {});
});

describe('VGG16 vs Keras reference (vgg16-notop.model.json)', () => {
  it('has the same layers, order, classes, configs and weight shapes', () => {
    const ref = readReference('vgg16-notop.model.json');
    const model = buildVgg16Base({ imgSize: 224 });
    expect(model.layers.map((l) => l.getClassName())).toEqual(ref.map((l) => l.className));
    expect(model.layers.slice(1).map((l) => l.name)).toEqual(ref.slice(1).map((l) => l.name));
    model.layers.slice(1).forEach((layer, i) => {
      const r = ref[i + 1]!;
      expect(weightShapes(layer), r.name).toEqual([...r.weights.entries()].sort(byKerasOrder));
      expectSameConfig(layer, r);
    });
    expect(model.countParams()).toBe(14_714_688);
    model.dispose();
  });
});

describe('InceptionV3 vs Keras reference (inceptionv3.model.json without its top)', () => {
  // The reference was exported by TensorSpace as a model with 124 outputs (every block), which
  // changes how Keras breaks ties between layers of equal depth; rebuilding our graph with the same
  // outputs must reproduce its layer order exactly.
  const json = JSON.parse(readFileSync(path.join(refDir, 'inceptionv3.model.json'), 'utf8'));
  const refOutputs: string[] = json.modelTopology.model_config.config.output_layers.map((o: [string]) => o[0]);

  it('has the same layers, classes, configs and weight shapes; same order with the reference outputs', () => {
    const ref = readReference('inceptionv3.model.json');
    expect(ref.slice(-2).map((l) => l.name)).toEqual(['avg_pool', 'predictions']);
    const notop = ref.slice(0, -2);
    const base = buildInceptionV3Base({ imgSize: 299 });
    expect(base.layers.length).toBe(notop.length);
    const byName = new Map(base.layers.map((l) => [l.name, l]));
    expect(refOutputs.slice(-2)).toEqual(['avg_pool', 'predictions']);
    const multi = tfl.model({
      inputs: base.inputs,
      outputs: refOutputs.slice(0, -2).map((n) => byName.get(n)!.output as tfl.SymbolicTensor),
    });
    expect(multi.layers.map((l) => l.getClassName())).toEqual(notop.map((l) => l.className));
    expect(multi.layers.slice(1).map((l) => l.name)).toEqual(notop.slice(1).map((l) => l.name));
    let bnCount = 0;
    multi.layers.slice(1).forEach((layer, i) => {
      const r = notop[i + 1]!;
      expect(weightShapes(layer), r.name).toEqual([...r.weights.entries()].sort(byKerasOrder));
      expectSameConfig(layer, r);
      if (r.className === 'BatchNormalization') {
        bnCount++;
        expect(r.config.scale).toBe(false);
      }
    });
    expect(bnCount).toBe(94);
    expect(base.countParams()).toBe(21_802_784);
    base.dispose();
  });

  it('orders the single-output base like Keras (mixed7 = layer 228, mixed8 = 248, as in the Keras fine-tuning example)', () => {
    const base = buildInceptionV3Base({ imgSize: 75 });
    const names = base.layers.map((l) => l.name);
    expect(names.indexOf('mixed7')).toBe(228);
    expect(names.indexOf('mixed8')).toBe(248);
    expect(names.at(-1)).toBe('mixed10');
    // Within one depth, Keras orders layers by first visit from the output (depth-first).
    expect(names.slice(21, 33)).toEqual([
      'conv2d_7', 'conv2d_10', 'batch_normalization_7', 'batch_normalization_10', 'activation_7', 'activation_10',
      'average_pooling2d_1', 'conv2d_6', 'conv2d_8', 'conv2d_11', 'conv2d_12', 'batch_normalization_6',
    ]);
    base.dispose();
  });
});

/** Keras 2.1.6 ResNet50 names (res2a_branch2a, bn2a_branch2a, conv1, bn_conv1) -> keras.applications.resnet names. */
function newResNetName(old: string): string | undefined {
  if (old === 'conv1') return 'conv1_conv';
  if (old === 'bn_conv1') return 'conv1_bn';
  const m = /^(res|bn)(\d)([a-f])_branch(1|2a|2b|2c)$/.exec(old);
  if (!m) return undefined;
  const [, kind, stage, letter, branch] = m;
  const block = letter!.charCodeAt(0) - 96;
  const idx = { '1': 0, '2a': 1, '2b': 2, '2c': 3 }[branch!];
  return `conv${stage}_block${block}_${idx}_${kind === 'res' ? 'conv' : 'bn'}`;
}

describe('ResNet50 vs Keras reference (resnet50.model.json, Keras 2.1.6 layer names)', () => {
  it('has every weighted layer of the reference under its current Keras name, same shapes and conv configs', () => {
    const ref = readReference('resnet50.model.json').filter((l) => l.weights.size > 0 && l.name !== 'fc1000');
    const model = buildResNet50Base({ imgSize: 224 });
    const ours = new Map(model.layers.filter((l) => l.weights.length > 0).map((l) => [l.name, l]));
    expect(ours.size).toBe(ref.length);
    expect(ref.length).toBe(53 + 53);
    for (const r of ref) {
      const name = newResNetName(r.name);
      expect(name, r.name).toBeDefined();
      const layer = ours.get(name!);
      expect(layer, `${r.name} -> ${name}`).toBeDefined();
      expect(layer!.getClassName()).toBe(r.className);
      expect(weightShapes(layer!), name).toEqual([...r.weights.entries()].sort(byKerasOrder));
      if (r.className === 'Conv2D') expectSameConfig(layer!, r);
      if (r.className === 'BatchNormalization') {
        // Current Keras (whose resnet/ weight file we load) uses epsilon 1.001e-5; 2.1.6 used 1e-3.
        expect((layer!.getConfig() as { epsilon: number }).epsilon).toBe(1.001e-5);
      }
    }
    expect(model.countParams()).toBe(23_587_712);
    model.dispose();
  });

  it('orders each projection block like Keras: the shortcut conv sits at the depth of the last conv', () => {
    const model = buildResNet50Base({ imgSize: 64 });
    const weighted = model.layers.filter((l) => l.weights.length > 0).map((l) => l.name);
    expect(weighted.slice(0, 10)).toEqual([
      'conv1_conv', 'conv1_bn',
      'conv2_block1_1_conv', 'conv2_block1_1_bn', 'conv2_block1_2_conv', 'conv2_block1_2_bn',
      'conv2_block1_0_conv', 'conv2_block1_3_conv', 'conv2_block1_0_bn', 'conv2_block1_3_bn',
    ]);
    expect(model.layers.at(-1)!.name).toBe('conv5_block3_out');
    model.dispose();
  });
});

describe('EfficientNetB0 (no reference file: Keras source structure and counts)', () => {
  it('matches the Keras layer names, weight shapes and parameter counts', () => {
    const model = buildEfficientNetB0Base({ imgSize: 224 });
    expect(model.layers.slice(0, 8).map((l) => l.name)).toEqual([
      'input_1', 'rescaling', 'normalization', 'rescaling_1', 'stem_conv_pad', 'stem_conv', 'stem_bn', 'stem_activation',
    ]);
    expect(model.countParams()).toBe(4_049_571);
    const nonTrainable = model.nonTrainableWeights.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b as number), 1), 0);
    expect(nonTrainable).toBe(42_023);
    const blocks = [...new Set(model.layers.map((l) => /^(block\d[a-z])_/.exec(l.name)?.[1]).filter(Boolean))];
    expect(blocks).toEqual(['block1a', 'block2a', 'block2b', 'block3a', 'block3b', 'block4a', 'block4b', 'block4c',
      'block5a', 'block5b', 'block5c', 'block6a', 'block6b', 'block6c', 'block6d', 'block7a']);
    const byName = new Map(model.layers.map((l) => [l.name, l]));
    const shapes = (n: string) => weightShapes(byName.get(n)!);
    expect(shapes('normalization')).toEqual([['mean', [3]], ['variance', [3]], ['count', []]]);
    expect(shapes('stem_conv')).toEqual([['kernel', [3, 3, 3, 32]]]);
    expect(byName.has('block1a_expand_conv')).toBe(false); // expand_ratio 1
    expect(shapes('block1a_dwconv')).toEqual([['depthwise_kernel', [3, 3, 32, 1]]]);
    expect(shapes('block1a_se_reduce')).toEqual([['kernel', [1, 1, 32, 8]], ['bias', [8]]]);
    expect(shapes('block2a_expand_conv')).toEqual([['kernel', [1, 1, 16, 96]]]);
    expect(shapes('block3a_dwconv')).toEqual([['depthwise_kernel', [5, 5, 144, 1]]]);
    expect(shapes('block6d_se_expand')).toEqual([['kernel', [1, 1, 48, 1152]], ['bias', [1152]]]);
    expect(shapes('block7a_project_bn')).toEqual([['gamma', [320]], ['beta', [320]], ['moving_mean', [320]], ['moving_variance', [320]]]);
    expect(shapes('top_conv')).toEqual([['kernel', [1, 1, 320, 1280]]]);
    // Stride-2 depthwise convs use Keras' correct_pad + 'valid'; drop-connect only where a residual add exists.
    expect((byName.get('block2a_dwconv_pad')!.getConfig() as { padding: unknown }).padding).toEqual([[0, 1], [0, 1]]);
    expect(byName.has('block2a_add')).toBe(false);
    expect((byName.get('block2b_drop')!.getConfig() as { rate: number }).rate).toBeCloseTo((0.2 * 2) / 16, 10);
    expect((byName.get('block7a_bn')!.getConfig() as { epsilon: number }).epsilon).toBe(1e-3);
    expect(model.layers.at(-1)!.name).toBe('top_activation');
    model.dispose();
  });
});

/** Keras stores a layer's weights in creation order; the manifest is alphabetical. */
function byKerasOrder(a: [string, number[]], b: [string, number[]]): number {
  const order = ['kernel', 'depthwise_kernel', 'bias', 'gamma', 'beta', 'moving_mean', 'moving_variance', 'mean', 'variance', 'count'];
  return order.indexOf(a[0]) - order.indexOf(b[0]);
}
