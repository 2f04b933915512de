// Penultimate features and logits of built models, and the decide() contract.
import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import type { RawImage } from '@parts/data';
import { buildClassifier } from '../src/heads';
import { imagesToBatch } from '../src/classifier';
import { computeFeaturesAndLogits, decide, decideRows, featureAndLogitModel, fitDetector, softmax } from '../src/ood/index';

beforeAll(async () => {
  await initBackend('cpu', () => {});
});

function images(n: number, size: number, seed: string): RawImage[] {
  const r = seedrandom(seed);
  return Array.from({ length: n }, () => ({ data: Uint8Array.from({ length: size * size * 3 }, () => Math.floor(r() * 256)), width: size, height: size }));
}

async function modelProbs(model: import('@tensorflow/tfjs-layers').LayersModel, imgs: RawImage[], meta: { imgSize: number; preprocess: 'rescale01' }) {
  const y = tf.tidy(() => model.predict(imagesToBatch(imgs, meta)) as tf.Tensor);
  const out = (await y.data()) as Float32Array;
  y.dispose();
  return out;
}

describe('featureAndLogitModel', () => {
  for (const [arch, size, classes, dim] of [
    ['partsnet', 16, 5, 256],
    ['partsnet', 16, 2, 256],
    ['tinyvgg', 32, 3, 64],
  ] as const) {
    it(`${arch}, ${classes} classes: softmax of the logits reproduces the model's probabilities; nothing leaks`, async () => {
      const built = buildClassifier({ arch, mode: 'scratch', imgSize: size, numClasses: classes, seed: 3 });
      const meta = { imgSize: size, preprocess: 'rescale01' as const };
      const imgs = images(5, size, `${arch}${classes}`);
      const before = tf.memory().numTensors;
      const fl = featureAndLogitModel(built.model);
      const rows = await computeFeaturesAndLogits(fl, imgs, meta, 2);
      fl.dispose();
      expect(tf.memory().numTensors).toBe(before);
      expect([rows.n, rows.featureDim, rows.numClasses]).toEqual([5, dim, classes]);
      const out = await modelProbs(built.model, imgs, meta);
      for (let i = 0; i < 5; i++) {
        const p = softmax(rows.logits.subarray(i * classes, (i + 1) * classes));
        if (classes === 2) {
          expect(rows.logits[i * 2]).toBe(0);
          expect(p[1]).toBeCloseTo(out[i], 5);
        } else {
          for (let j = 0; j < classes; j++) expect(p[j]).toBeCloseTo(out[i * classes + j], 5);
        }
      }
      built.model.dispose();
    });
  }

  it('refuses a model whose last layer is not a softmax/sigmoid Dense', async () => {
    const tfl = await import('@tensorflow/tfjs-layers');
    const inp = tfl.input({ shape: [4] });
    const m = tfl.model({ inputs: inp, outputs: tfl.layers.dense({ units: 3, activation: 'relu', name: 'out' }).apply(inp) as import('@tensorflow/tfjs-layers').SymbolicTensor });
    expect(() => featureAndLogitModel(m)).toThrow(/"out" has activation relu, expected softmax or sigmoid/);
    m.dispose();
  });
});

describe('decide', () => {
  const labels = ['a', 'b'];
  const train = { features: Float32Array.from([1, 0, 0.9, 0.1, 0, 1, 0.1, 0.9]), logits: Float32Array.from([2, 0, 2, 0, 0, 2, 0, 2]), labels: [0, 0, 1, 1], n: 4, featureDim: 2, numClasses: 2 };
  // Fitted on its own training rows every kNN score is 1; a threshold of 0.99 accepts what lies within ~8° of one.
  const det = { ...fitDetector(train, train, labels, { method: 'knn', calibrate: false }), threshold: 0.99 };

  it('answers the label with calibrated probabilities when the score passes the threshold', () => {
    const d = decide(Float32Array.from([1, 0.02]), Float32Array.from([3, 1]), labels, { ...det, temperature: 2 });
    expect(d.unknown).toBe(false);
    expect(d.label).toBe('a');
    expect(d.top).toBe('a');
    expect(d.probability).toBeCloseTo(1 / (1 + Math.exp(-1)), 10);
    expect(d.probabilities.a + d.probabilities.b).toBeCloseTo(1, 12);
    expect(d.ood?.method).toBe('knn');
    expect(d.ood!.score).toBeGreaterThanOrEqual(d.ood!.threshold);
  });

  it('answers unknown (label null, top kept) when the score is below the threshold', () => {
    const d = decide(Float32Array.from([-1, -1]), Float32Array.from([3, 1]), labels, det);
    expect(d).toMatchObject({ unknown: true, label: null, top: 'a' });
    expect(d.ood!.score).toBeLessThan(d.ood!.threshold);
  });

  it('without a detector nothing is unknown and ood is null', () => {
    const rows = decideRows({ ...train }, labels, null);
    expect(rows.every((r) => !r.unknown && r.ood === null && r.label === r.top)).toBe(true);
  });
});
