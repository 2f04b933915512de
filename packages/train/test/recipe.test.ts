// The from-scratch recipe: defaults per architecture, the new options' validation, the
// learning-rate schedule and decoupled weight decay in the fit loop.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@parts/backend';
import { getArch, listArchs } from '@parts/models';
import { DEFAULT_ARCH, resolveTrainOptions, TRAIN_DEFAULTS } from '../src/options';
import { fitLoop, scheduledLr, type Batch } from '../src/fit-loop';

beforeAll(async () => {
  await initBackend('cpu', () => {});
});

const base = { mode: 'scratch' as const, data: '/tmp/data' };

describe('resolveTrainOptions recipes', () => {
  it('without --arch uses partsnet and its recipe', () => {
    const r = resolveTrainOptions(base, '/tmp/runs');
    expect(r.arch).toBe(DEFAULT_ARCH);
    expect(r).toMatchObject({ ...getArch('partsnet').recipe, arch: 'partsnet', batchSize: TRAIN_DEFAULTS.batchSize, seed: 42 });
    expect(r).toMatchObject({ imgSize: 128, fit: 'contain', augment: 'size-preserving', lrSchedule: 'cosine' });
  });

  it('explicit --arch tinyvgg keeps the study defaults (no recipe)', () => {
    const r = resolveTrainOptions({ ...base, arch: 'tiny-vgg' }, '/tmp/runs');
    expect(r).toMatchObject({
      arch: 'tinyvgg', imgSize: 256, epochs: 30, lr: 1e-3, fit: 'cover', augment: 'study', patience: 8,
      labelSmoothing: 0, lrSchedule: 'constant', warmupEpochs: 0, weightDecay: 0,
    });
  });

  it('explicit options beat the recipe; augment booleans map to presets', () => {
    const r = resolveTrainOptions({ ...base, imgSize: 64, fit: 'cover', augment: false, epochs: 3 }, '/tmp/runs');
    expect(r).toMatchObject({ arch: 'partsnet', imgSize: 64, fit: 'cover', augment: 'none', epochs: 3, lrSchedule: 'cosine' });
    expect(resolveTrainOptions({ ...base, arch: 'tinyvgg', augment: true }, '/tmp').augment).toBe('study');
  });

  it('names bad values of the new options', () => {
    expect(() => resolveTrainOptions({ ...base, augment: 'zoomy' as never }, '/tmp')).toThrow(/--augment must be one of study, size-preserving, texture, none \(got zoomy\)/);
    expect(() => resolveTrainOptions({ ...base, lrSchedule: 'step' as never }, '/tmp')).toThrow(/--lr-schedule must be constant or cosine/);
    expect(() => resolveTrainOptions({ ...base, weightDecay: -1 }, '/tmp')).toThrow(/--weight-decay must be in \[0, 1\)/);
    expect(() => resolveTrainOptions({ ...base, warmupEpochs: 1.5 }, '/tmp')).toThrow(/--warmup-epochs/);
    expect(() => resolveTrainOptions({ ...base, arch: 'nope' }, '/tmp')).toThrow(/unknown architecture "nope"/);
  });
});

describe('resolveTrainOptions per architecture', () => {
  it.each(listArchs().map((a) => [a.name, a] as const))('%s: its spec gives the default mode and input size; options win', (name, spec) => {
    const r = resolveTrainOptions({ data: '/tmp/data', arch: name }, '/tmp/runs');
    expect(r).toMatchObject({ arch: name, mode: spec.defaultMode, imgSize: spec.defaultImgSize, ...spec.recipe });
    expect(resolveTrainOptions({ data: '/tmp/data', arch: name, imgSize: 48, mode: 'scratch' }, '/tmp/runs')).toMatchObject({ imgSize: 48, mode: 'scratch' });
  });

  it('partsnet trains at 128 px, Tiny VGG and the pretrained bases at 256 px (finetune by default)', () => {
    const r = (arch: string) => resolveTrainOptions({ data: '/tmp/data', arch }, '/tmp/runs');
    expect([r('partsnet').imgSize, r('partsnet').mode]).toEqual([128, 'scratch']);
    expect([r('tinyvgg').imgSize, r('tinyvgg').mode]).toEqual([256, 'scratch']);
    for (const a of ['vgg16', 'resnet50', 'inception', 'efficientnet']) expect([r(a).imgSize, r(a).mode]).toEqual([256, 'finetune']);
  });

  it('--weights applies only to pretrained bases outside scratch mode; --val-split not with folds', () => {
    expect(() => resolveTrainOptions({ data: '/d', arch: 'tinyvgg', weights: 'imagenet' }, '/tmp')).toThrow(/--weights applies to the pretrained bases.*tinyvgg --mode scratch/);
    expect(() => resolveTrainOptions({ data: '/d', arch: 'vgg16', mode: 'scratch', weights: '/w.h5' }, '/tmp')).toThrow(/vgg16 --mode scratch starts from random init/);
    expect(resolveTrainOptions({ data: '/d', arch: 'tinyvgg', weights: 'none' }, '/tmp').weights).toBe('none');
    expect(resolveTrainOptions({ data: '/d', arch: 'vgg16', mode: 'extract', weights: 'imagenet' }, '/tmp').weights).toBe('imagenet');
    expect(() => resolveTrainOptions({ data: '/d', valSplit: 0.1, fold: { k: 1, folds: 3 } }, '/tmp')).toThrow(/--val-split does not apply with --folds/);
    expect(resolveTrainOptions({ data: '/d', fold: { k: 1, folds: 3 } }, '/tmp').valSplit).toBe(0);
  });
});

describe('scheduledLr', () => {
  it('constant is constant', () => {
    expect([1, 5, 10].map((e) => scheduledLr(0.1, e, 10, 'constant', 3))).toEqual([0.1, 0.1, 0.1]);
  });

  it('cosine: linear warm-up, peak after warm-up, decreasing to lr/100 at the last epoch', () => {
    const lrs = Array.from({ length: 20 }, (_, i) => scheduledLr(0.01, i + 1, 20, 'cosine', 3));
    expect(lrs.slice(0, 3)).toEqual([0.0025, 0.005, 0.0075].map((v) => expect.closeTo(v, 12)));
    expect(lrs[3]).toBeCloseTo(0.01, 12);
    for (let i = 4; i < 20; i++) expect(lrs[i]).toBeLessThan(lrs[i - 1]);
    expect(lrs[19]).toBeCloseTo(0.0001, 12);
    expect(scheduledLr(0.01, 1, 1, 'cosine', 0)).toBeCloseTo(0.0001, 12);
  });
});

describe('fitLoop with schedule and weight decay', () => {
  const data = (): Batch[] => {
    const x = tf.tensor2d([[1, 0], [0, 1], [1, 1], [0, 0]]);
    const y = tf.tensor2d([[1, 0], [0, 1], [1, 0], [0, 1]]);
    return [{ x, y, labels: [0, 1, 0, 1] }];
  };
  const model = () => {
    const m = tfl.sequential({
      layers: [tfl.layers.dense({ inputShape: [2], units: 2, activation: 'softmax', kernelInitializer: tfl.initializers.ones(), biasInitializer: 'ones' })],
    });
    return m;
  };
  const run = async (weightDecay: number) => {
    const m = model();
    const h = await fitLoop({
      model: m, epochs: 4, lr: 0.01, activation: 'softmax', classWeights: null, labelSmoothing: 0, patience: 0,
      lrSchedule: 'cosine', warmupEpochs: 1, weightDecay, trainBatches: data, batchesPerEpoch: 1,
    });
    const [kernel, bias] = m.getWeights().map((w) => Array.from(w.dataSync()));
    m.dispose();
    return { h, kernel, bias };
  };

  it('records the scheduled lr per epoch and shrinks kernels (not biases) with decay', async () => {
    const plain = await run(0);
    const decayed = await run(0.5);
    expect(plain.h.epochs.map((e) => e.lr)).toEqual([1, 2, 3, 4].map((e) => scheduledLr(0.01, e, 4, 'cosine', 1)));
    // Same gradients path; decay multiplies each kernel by (1 - lr·wd) per step on top.
    const norm = (v: number[]) => Math.hypot(...v);
    expect(norm(decayed.kernel)).toBeLessThan(norm(plain.kernel) * 0.99);
    expect(decayed.bias).toEqual(plain.bias.map((b) => expect.closeTo(b, 3)));
  });
});
