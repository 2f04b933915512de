// Registry: names, aliases, specs of the built-in architectures, errors, adding an architecture.
import { describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { getArch, listArchs, registerArch, type ArchSpec } from '../src/registry';

describe('built-in architectures', () => {
  it('lists the study architectures once each', () => {
    expect(listArchs().map((a) => a.name)).toEqual(['tinyvgg', 'vgg16', 'resnet50', 'inception', 'efficientnet', 'partsnet']);
  });

  it('resolves names and aliases case-insensitively', () => {
    expect(getArch('inceptionv3').name).toBe('inception');
    expect(getArch('InceptionV3').name).toBe('inception');
    expect(getArch('efficientnetb0').name).toBe('efficientnet');
    expect(getArch(' VGG16 ').name).toBe('vgg16');
  });

  it('describes each architecture as in the study', () => {
    const pick = (n: string) => {
      const a = getArch(n);
      return [a.pretrained, a.preprocess, a.defaultImgSize, a.minImgSize, a.finetuneDefault];
    };
    expect(pick('tinyvgg')).toEqual([false, 'rescale01', 256, 16, undefined]);
    expect(pick('vgg16')).toEqual([true, 'caffe', 256, 32, { fromLayer: 15 }]);
    expect(pick('resnet50')).toEqual([true, 'caffe', 256, 32, { lastLayers: 10 }]);
    expect(pick('inception')).toEqual([true, 'tf', 256, 75, { lastLayers: 17 }]);
    expect(pick('efficientnet')).toEqual([true, 'none', 256, 32, { lastLayers: 17 }]);
  });

  it.each(listArchs().map((a) => [a.name, a] as const))('%s: trains in its modes, by default in one of them', (_name, a) => {
    expect(a.modes).toContain(a.defaultMode);
    expect(a.modes).toEqual(a.pretrained ? ['extract', 'finetune'] : ['scratch']);
    expect(a.defaultMode).toBe(a.pretrained ? 'finetune' : 'scratch');
    expect(a.defaultImgSize).toBeGreaterThanOrEqual(a.minImgSize);
  });

  it('carries the official Keras notop weight URLs and md5s', () => {
    const w = (n: string) => getArch(n).weights;
    expect(w('tinyvgg')).toBeUndefined();
    expect(w('vgg16')).toEqual({
      url: 'https://storage.googleapis.com/tensorflow/keras-applications/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5',
      md5: '6d6bbae143d832006294945121d1f1fc',
      fileName: 'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5',
    });
    expect(w('resnet50')!.md5).toBe('4d473c1dd8becc155b73f8504c6f6626');
    expect(w('inception')!.md5).toBe('bcbd6486424b2319ff4ef7d526e38f63');
    expect(w('efficientnet')).toEqual({
      url: 'https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5',
      md5: '50bc09e76180e00e4465e1a485ddc09d',
      fileName: 'efficientnetb0_notop.h5',
    });
    for (const a of listArchs()) if (a.weights) expect(a.weights.url.endsWith(`/${a.weights.fileName}`)).toBe(true);
  });

  it('names the known architectures when the name is unknown', () => {
    expect(() => getArch('mobilenet')).toThrow(
      'unknown architecture "mobilenet"; known: tinyvgg (tiny-vgg), vgg16, resnet50, inception (inceptionv3, inception_v3, inception-v3), efficientnet (efficientnetb0, efficientnet-b0, efficientnet_b0)',
    );
  });
});

describe('registerArch', () => {
  const mini: ArchSpec = {
    name: 'mini-test',
    aliases: ['mini'],
    pretrained: false,
    preprocess: 'rescale01',
    defaultImgSize: 8,
    minImgSize: 4,
    modes: ['scratch'],
    defaultMode: 'scratch',
    buildModel: ({ imgSize, numClasses }) => {
      const input = tfl.input({ shape: [imgSize, imgSize, 3] });
      const x = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor;
      return tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: numClasses, activation: 'softmax' }).apply(x) as tfl.SymbolicTensor });
    },
  };

  it('adds an architecture with one call', () => {
    registerArch(mini);
    expect(getArch('mini')).toBe(mini);
    expect(listArchs().at(-1)).toBe(mini);
  });

  it('refuses a name or alias that another architecture uses, and incomplete specs', () => {
    expect(() => registerArch({ ...mini, name: 'other', aliases: ['inceptionv3'] })).toThrow(/"inceptionv3" is already used by inception/);
    expect(() => registerArch({ ...mini, name: 'nobuild', aliases: [], buildModel: undefined })).toThrow(/needs buildBase or buildModel/);
    expect(() => registerArch({ ...mini, name: 'pre', aliases: [], pretrained: true })).toThrow(/pretrained arch needs buildBase/);
    expect(() => registerArch({ ...mini, name: 'nomode', aliases: [], defaultMode: 'finetune' })).toThrow(/defaultMode finetune is not one of its modes \(scratch\)/);
    expect(() => registerArch({ ...mini, name: 'badmode', aliases: [], modes: ['transfer' as never] })).toThrow(/modes must list/);
  });
});
