// Transfer modes: which weights train in scratch / extract / finetune, the extract split into a
// feature base and a head, BN kept in inference mode, unfreeze overrides, seeds, errors.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@parts/backend';
import { buildClassifier, countTrainableParams } from '../src/heads';
import { parseTrainMode } from '../src/modes';
import { BatchNormalization } from '../src/bn-fix';

beforeAll(async () => {
  await initBackend('cpu', () => {});
});

/** Names of the layers that have at least one trainable weight. */
function trainableLayerNames(model: tfl.LayersModel): string[] {
  const names = new Set(model.trainableWeights.map((w) => w.originalName.split('/')[0]!));
  return model.layers.filter((l) => names.has(l.name)).map((l) => l.name);
}

const cases = [
  {
    arch: 'vgg16', size: 32, channels: 512,
    // The study: block 5 trains (base.layers[15:]).
    finetune: ['block5_conv1', 'block5_conv2', 'block5_conv3'],
  },
  {
    arch: 'resnet50', size: 32, channels: 2048,
    // Last 10 layers: the second half of conv5_block3.
    finetune: ['conv5_block3_1_conv', 'conv5_block3_1_bn', 'conv5_block3_2_conv', 'conv5_block3_2_bn', 'conv5_block3_3_conv', 'conv5_block3_3_bn'],
  },
  {
    arch: 'inception', size: 75, channels: 2048,
    // Last 17 layers in Keras order: the last convs/BNs of mixed10's branches.
    finetune: ['conv2d_86', 'batch_normalization_88', 'batch_normalization_89', 'batch_normalization_92', 'batch_normalization_93',
      'conv2d_94', 'batch_normalization_86', 'batch_normalization_94'],
  },
  {
    arch: 'efficientnet', size: 32, channels: 1280,
    // Last 17 layers: block7a and the top.
    finetune: ['block7a_expand_conv', 'block7a_expand_bn', 'block7a_dwconv', 'block7a_bn', 'block7a_se_reduce', 'block7a_se_expand',
      'block7a_project_conv', 'block7a_project_bn', 'top_conv', 'top_bn'],
  },
];

describe.each(cases)('$arch', ({ arch, size, channels, finetune }) => {
  it('extract: only the head trains; base -> pooled features, head -> probabilities', () => {
    const built = buildClassifier({ arch, mode: 'extract', imgSize: size, numClasses: 2, seed: 1 });
    const { model, base, head, convBase } = built;
    expect(built.meta).toMatchObject({ mode: 'extract', imgSize: size, outputActivation: 'sigmoid' });
    expect(trainableLayerNames(model)).toEqual(['head_dense']);
    expect(countTrainableParams(model)).toBe(channels * 1 + 1);
    expect(base!.outputs[0]!.shape).toEqual([null, channels]);
    expect(countTrainableParams(base!)).toBe(0);
    expect(head!.inputs[0]!.shape).toEqual([null, channels]);
    expect(head!.outputs[0]!.shape).toEqual([null, 1]);
    expect(countTrainableParams(head!)).toBe(channels + 1);
    expect(model.outputs[0]!.shape).toEqual([null, 1]);
    for (const l of convBase!.layers) if (l instanceof BatchNormalization) expect(l.useMovingStatistics).toBe(true);
    model.dispose();
  });

  it('finetune: the study default unfreezes exactly the top layers; unfreeze overrides', () => {
    const built = buildClassifier({ arch, mode: 'finetune', imgSize: size, numClasses: 2, seed: 1 });
    expect(trainableLayerNames(built.model).sort()).toEqual([...finetune, 'head_dense'].sort());
    // The trainer separates base weights (lower learning rate) through `base`.
    expect(trainableLayerNames(built.base!).sort()).toEqual([...finetune].sort());
    const bns = built.convBase!.layers.filter((l): l is BatchNormalization => l instanceof BatchNormalization);
    expect(bns.length > 0).toBe(arch !== 'vgg16');
    expect(bns.every((l) => l.useMovingStatistics)).toBe(true);
    built.model.dispose();

    const none = buildClassifier({ arch, mode: 'finetune', imgSize: size, numClasses: 2, unfreeze: 0 });
    expect(trainableLayerNames(none.model)).toEqual(['head_dense']);
    none.model.dispose();
    const n = none.convBase!.layers.length;
    expect(() => buildClassifier({ arch, mode: 'finetune', imgSize: size, numClasses: 2, unfreeze: n })).toThrow(
      new RegExp(`unfreeze must be an integer from 0 to ${n - 1}`),
    );
  });

  it('scratch: every weight trains', () => {
    const built = buildClassifier({ arch, mode: 'scratch', imgSize: size, numClasses: 5 });
    const all = built.model.getWeights().length;
    const nonTrainable = built.model.nonTrainableWeights.length;
    expect(built.model.trainableWeights.length).toBe(all - nonTrainable);
    // Only BN moving statistics (and EfficientNet's Normalization mean/variance/count) do not train.
    expect(built.model.nonTrainableWeights.every((w) => /moving_(mean|variance)|normalization\/(mean|variance|count)/.test(w.originalName))).toBe(true);
    expect(built.meta.outputActivation).toBe('softmax');
    expect(built.model.outputs[0]!.shape).toEqual([null, 5]);
    built.model.dispose();
  });
});

describe('extract mode computes the same probabilities through base+head as end to end', () => {
  it('shares the head weights between `head` and `model`', async () => {
    const built = buildClassifier({ arch: 'efficientnet', mode: 'extract', imgSize: 32, numClasses: 3, seed: 5 });
    const { model, base, head } = built;
    const x = tf.randomUniform([2, 32, 32, 3], 0, 255, 'float32', 3);
    const feats = base!.predict(x) as tf.Tensor;
    // Train the head alone on cached features, as the trainer does.
    head!.compile({ optimizer: tf.train.sgd(0.5), loss: 'categoricalCrossentropy' });
    const y = tf.oneHot(tf.tensor1d([0, 2], 'int32'), 3);
    const before = (head!.predict(feats) as tf.Tensor).arraySync();
    await head!.fit(feats, y, { epochs: 1, batchSize: 2, verbose: 0 });
    const viaHead = head!.predict(feats) as tf.Tensor;
    const endToEnd = model.predict(x) as tf.Tensor;
    expect(viaHead.arraySync()).not.toEqual(before);
    const a = viaHead.dataSync();
    const b = endToEnd.dataSync();
    for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i]!, 5);
    tf.dispose([x, feats, y, viaHead, endToEnd]);
    model.dispose();
  });
});

describe('buildClassifier', () => {
  it('builds Tiny VGG for scratch only, with its own preprocessing and output', () => {
    const built = buildClassifier({ arch: 'tinyvgg', mode: 'scratch', imgSize: 32, numClasses: 2 });
    expect(built.meta).toEqual({ arch: 'tinyvgg', mode: 'scratch', imgSize: 32, preprocess: 'rescale01', outputActivation: 'sigmoid' });
    expect(built.base).toBeUndefined();
    built.model.dispose();
    expect(() => buildClassifier({ arch: 'tinyvgg', mode: 'extract', imgSize: 32, numClasses: 2 })).toThrow(/only mode 'scratch'/);
  });

  it('stores each arch preprocessing in meta and defaults the size to 256', () => {
    const meta = (arch: string) => {
      const b = buildClassifier({ arch, mode: 'extract', numClasses: 2, imgSize: arch === 'inceptionv3' ? 75 : 32 });
      b.model.dispose();
      return b.meta.preprocess;
    };
    expect(['vgg16', 'resnet50', 'inceptionv3', 'efficientnetb0'].map(meta)).toEqual(['caffe', 'caffe', 'tf', 'none']);
    const d = buildClassifier({ arch: 'efficientnet', mode: 'extract', numClasses: 2 });
    expect(d.meta.imgSize).toBe(256);
    expect(d.model.inputs[0]!.shape).toEqual([null, 256, 256, 3]);
    d.model.dispose();
  });

  it('uses a given pre-built base (e.g. with loaded weights) and checks its input size', () => {
    const first = buildClassifier({ arch: 'efficientnet', mode: 'extract', imgSize: 32, numClasses: 2 });
    const base = first.convBase!;
    const again = buildClassifier({ arch: 'efficientnet', mode: 'finetune', imgSize: 32, numClasses: 2, base });
    expect(again.convBase).toBe(base);
    expect(again.model.getLayer('top_conv')).toBe(base.getLayer('top_conv'));
    expect(() => buildClassifier({ arch: 'efficientnet', mode: 'extract', imgSize: 64, numClasses: 2, base })).toThrow(
      /base takes input \[null,32,32,3\], expected \[null, 64, 64, 3\]/,
    );
    first.model.dispose();
  });

  it('initialises the head reproducibly from the seed', () => {
    const head = (seed: number) => {
      const b = buildClassifier({ arch: 'efficientnet', mode: 'extract', imgSize: 32, numClasses: 2, seed });
      const w = Array.from(b.model.getLayer('head_dense').getWeights()[0]!.dataSync());
      b.model.dispose();
      return w;
    };
    expect(head(3)).toEqual(head(3));
    expect(head(3)).not.toEqual(head(4));
  });

  it('rejects bad arguments with clear messages', () => {
    expect(() => buildClassifier({ arch: 'alexnet', mode: 'scratch', numClasses: 2 })).toThrow(/unknown architecture "alexnet"; known: tinyvgg/);
    expect(() => buildClassifier({ arch: 'vgg16', mode: 'scratch', imgSize: 31, numClasses: 2 })).toThrow(/vgg16: input size must be an integer >= 32/);
    expect(() => buildClassifier({ arch: 'inception', mode: 'extract', imgSize: 74, numClasses: 2 })).toThrow(/inception: input size must be an integer >= 75/);
    expect(() => buildClassifier({ arch: 'vgg16', mode: 'extract', imgSize: 32, numClasses: 1 })).toThrow(/numClasses must be an integer >= 2/);
    expect(() => buildClassifier({ arch: 'vgg16', mode: 'train' as never, imgSize: 32, numClasses: 2 })).toThrow(/unknown mode/);
  });

  it('parses modes with their aliases', () => {
    expect(parseTrainMode('feature-extraction')).toBe('extract');
    expect(parseTrainMode('Extract')).toBe('extract');
    expect(parseTrainMode('fine-tune')).toBe('finetune');
    expect(parseTrainMode('scratch')).toBe('scratch');
    expect(() => parseTrainMode('transfer')).toThrow(/unknown mode "transfer"/);
  });
});

describe('saved classifiers', () => {
  it.each([
    ['efficientnet', 32],
    ['inception', 75],
  ] as const)('%s survives a tfjs save/load round trip with identical predictions', async (arch, size) => {
    const built = buildClassifier({ arch, mode: 'finetune', imgSize: size, numClasses: 3, seed: 2 });
    let artifacts: tf.io.ModelArtifacts | undefined;
    await built.model.save(tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const topology = JSON.stringify(artifacts!.modelTopology);
    // Standard Keras class names, so the files stay loadable elsewhere (Normalization excepted).
    expect(topology).toContain('"class_name":"BatchNormalization"');
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts!));
    expect(loaded.countParams()).toBe(built.model.countParams());
    const x = tf.randomUniform([1, size, size, 3], 0, 255, 'float32', 9);
    const a = (built.model.predict(x) as tf.Tensor).dataSync();
    const b = (loaded.predict(x) as tf.Tensor).dataSync();
    expect(Array.from(b)).toEqual(Array.from(a));
    x.dispose();
    built.model.dispose();
    loaded.dispose();
  });
});
