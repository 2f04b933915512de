import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@parts/backend';
import { decodePhoto, encodeRgbPng, type FitPolicy, type RawImage } from '@parts/data';
import {
  buildClassifier,
  CAM_METHODS,
  DEFAULT_CAM_METHOD,
  explainPhoto,
  gradCamForInput,
  GRADCAM_LAYERS,
  heatmapPng,
  imagesToBatch,
  inputMapToPhoto,
  listArchs,
  overlayPng,
  writeExplanationPngs,
  type ClassifierMeta,
} from '../src/index';
import os from 'node:os';
import path from 'node:path';
import { promises as fs } from 'node:fs';

// A photo 120×80 on white: a red square (x 25-49, y 5-34) and a blue one (x 70-94, y 45-74).
const W = 120, H = 80;
const RED = { x0: 25, x1: 50, y0: 5, y1: 35 };
const BLUE = { x0: 70, x1: 95, y0: 45, y1: 75 };
function photo(): RawImage {
  const data = new Uint8Array(W * H * 3).fill(255);
  const paint = (r: typeof RED, rgb: number[]) => {
    for (let y = r.y0; y < r.y1; y++) for (let x = r.x0; x < r.x1; x++) data.set(rgb, (y * W + x) * 3);
  };
  paint(RED, [255, 0, 0]);
  paint(BLUE, [0, 0, 255]);
  return { data, width: W, height: H };
}

function meanIn(map: { data: Float32Array; width: number }, r: typeof RED): number {
  let s = 0, n = 0;
  for (let y = r.y0; y < r.y1; y++) for (let x = r.x0; x < r.x1; x++) (s += map.data[y * map.width + x]), n++;
  return s / n;
}

/**
 * Known answer: 'feat' has a red detector (R - G - B) and a blue detector (B - R - G) channel; the
 * class score is the pooled red (class 'red') or blue (class 'blue') response. So Grad-CAM of 'red'
 * must sit on the red square and of 'blue' on the blue one.
 */
function detectorModel(sigmoid: boolean, size: number): { model: tfl.LayersModel; meta: ClassifierMeta } {
  const input = tfl.input({ shape: [size, size, 3] });
  const feat = tfl.layers.conv2d({ filters: 2, kernelSize: 1, activation: 'relu', name: 'feat' }).apply(input) as tfl.SymbolicTensor;
  const gap = tfl.layers.globalAveragePooling2d({}).apply(feat) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: sigmoid ? 1 : 2, activation: sigmoid ? 'sigmoid' : 'softmax', name: 'out' }).apply(gap) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  // kernel [1,1,3,2]: channel 0 = R - G - B, channel 1 = B - R - G.
  model.getLayer('feat').setWeights([tf.tensor4d([1, -1, -1, -1, -1, 1], [1, 1, 3, 2]), tf.zeros([2])]);
  // sigmoid: z = 4 red - 4 blue (label 1 = 'red'); softmax: z = [4 blue, 4 red] (labels blue, red).
  model.getLayer('out').setWeights(sigmoid ? [tf.tensor2d([[4], [-4]]), tf.zeros([1])] : [tf.tensor2d([[0, 4], [4, 0]]), tf.zeros([2])]);
  const meta: ClassifierMeta = { format: 'parts-classifier/1', arch: 'detector', mode: 'scratch', labels: ['blue', 'red'], imgSize: size, fit: 'contain', preprocess: 'rescale01', outputActivation: sigmoid ? 'sigmoid' : 'softmax' };
  return { model, meta };
}

describe.each(['wasm', 'cpu'] as const)('Grad-CAM on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend, () => {});
  });

  for (const method of CAM_METHODS) {
    for (const sigmoid of [true, false]) {
      for (const fit of ['contain', 'cover'] as FitPolicy[]) {
        it(`${method}: puts each class's map on its own square (${sigmoid ? 'sigmoid' : 'softmax'} head, fit ${fit})`, async () => {
          const { model, meta } = detectorModel(sigmoid, 48);
          const c = { model, meta: { ...meta, fit } };
          const bytes = await encodeRgbPng(photo());
          await explainPhoto(c, bytes, { layer: 'feat', method }); // warm-up: kernels, cached sub-model
          const before = tf.memory().numTensors;
          const red = await explainPhoto(c, bytes, { layer: 'feat', classIndex: 1, method });
          const blue = await explainPhoto(c, bytes, { layer: 'feat', classIndex: 0, method });
          expect(tf.memory().numTensors).toBe(before);
          expect(red.method).toBe(method);
          expect(red.heatmap.width).toBe(W);
          expect(red.heatmap.height).toBe(H);
          expect(red.label).toBe('red');
          expect(red.hasEvidence).toBe(true);
          // Away from the borders (bilinear blur spans about one input pixel = 2.5 photo pixels; an
          // occlusion patch that overlaps a square's edge removes only part of it).
          const m = method === 'occlusion' ? 6 : 4;
          const inner = (r: typeof RED) => ({ x0: r.x0 + m, x1: r.x1 - m, y0: r.y0 + m, y1: r.y1 - m });
          expect(meanIn(red.heatmap, inner(RED))).toBeGreaterThan(method === 'occlusion' ? 0.75 : 0.9);
          expect(meanIn(red.heatmap, inner(BLUE))).toBeLessThan(0.05);
          expect(meanIn(blue.heatmap, inner(BLUE))).toBeGreaterThan(method === 'occlusion' ? 0.75 : 0.9);
          expect(meanIn(blue.heatmap, inner(RED))).toBeLessThan(0.05);
          // Predicted class by default: both squares have the same area, the logits tie; explain 'red' by index.
          expect(red.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
          if (fit === 'cover') {
            // 120×80 cropped to a square: the 20 px margins left and right were not seen.
            expect(meanIn(red.heatmap, { x0: 0, x1: 19, y0: 0, y1: H })).toBe(0);
            expect(meanIn(red.heatmap, { x0: W - 19, x1: W, y0: 0, y1: H })).toBe(0);
          }
          model.dispose();
        });
      }
    }
  }

  it.each(['contrast', 'integrated'] as const)('%s finds the evidence for a class that the background also raises, where Grad-CAM is flat', async (method) => {
    // Class 0's score is 2·mean(brightness) + 4·mean(blue): the white paper raises it everywhere,
    // the blue square raises it more. Class 1's score is the negative: nothing in the photo adds to it
    // more than the paper does.
    const size = 48;
    const input = tfl.input({ shape: [size, size, 3] });
    const feat = tfl.layers.conv2d({ filters: 2, kernelSize: 1, activation: 'relu', name: 'feat' }).apply(input) as tfl.SymbolicTensor;
    const gap = tfl.layers.globalAveragePooling2d({}).apply(feat) as tfl.SymbolicTensor;
    const out = tfl.layers.dense({ units: 1, activation: 'sigmoid', name: 'out' }).apply(gap) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: out });
    model.getLayer('feat').setWeights([tf.tensor4d([1 / 3, -1, 1 / 3, -1, 1 / 3, 1], [1, 1, 3, 2]), tf.zeros([2])]);
    model.getLayer('out').setWeights([tf.tensor2d([[-2], [-4]]), tf.tensor1d([3])]);
    const meta: ClassifierMeta = { format: 'parts-classifier/1', arch: 'detector', mode: 'scratch', labels: ['blue', 'plain'], imgSize: size, fit: 'contain', preprocess: 'rescale01', outputActivation: 'sigmoid' };
    const img = photo();
    for (let i = 0; i < img.data.length; i += 3) if (img.data[i] === 255 && img.data[i + 1] === 0) img.data.set([255, 255, 255], i); // blue square only
    const bytes = await encodeRgbPng(img);
    const inner = { x0: BLUE.x0 + 4, x1: BLUE.x1 - 4, y0: BLUE.y0 + 4, y1: BLUE.y1 - 4 };
    const paper = { x0: 5, x1: 60, y0: 40, y1: 75 };
    const before = tf.memory().numTensors;
    const grad = await explainPhoto({ model, meta }, bytes, { layer: 'feat', classIndex: 0, method: 'grad-cam' });
    const contrast = await explainPhoto({ model, meta }, bytes, { layer: 'feat', classIndex: 0, method });
    const plain = await explainPhoto({ model, meta }, bytes, { layer: 'feat', classIndex: 1, method });
    expect(tf.memory().numTensors).toBe(before);
    expect(grad.label).toBe('blue');
    // Grad-CAM: paper at 2 / (2/3 + 4) of the square's heat.
    expect(meanIn(grad.heatmap, paper)).toBeCloseTo(2 / (2 / 3 + 4), 2);
    expect(meanIn(contrast.heatmap, inner)).toBeGreaterThan(0.9);
    expect(meanIn(contrast.heatmap, paper)).toBe(0);
    // Neither the square nor the paper raises 'plain' above the paper's level; only the resize's blend
    // of blue and white at the square's rim (less bright than paper, not blue enough to count) does.
    expect(meanIn(plain.heatmap, inner)).toBe(0);
    expect(meanIn(plain.heatmap, paper)).toBe(0);
    model.dispose();
  });

  it('explains the predicted class by default and matches the model\'s own probabilities', async () => {
    const { model, meta } = detectorModel(false, 32);
    const img = photo();
    // Only the red square: 'red' is predicted.
    for (let i = 0; i < img.data.length; i += 3) if (img.data[i] === 0 && img.data[i + 2] === 255) img.data.set([255, 255, 255], i);
    const e = await explainPhoto({ model, meta }, await encodeRgbPng(img), { layer: 'feat' });
    expect(e.label).toBe('red');
    const y = model.predict(tf.zeros([1, 32, 32, 3])) as tf.Tensor;
    const p = (await y.data()) as Float32Array;
    tf.dispose(y);
    expect(p.length).toBe(2);
    // The head evaluated by Grad-CAM (logits by hand) gives the model's probabilities.
    const cam = await gradCamForInput({ model, meta }, { data: new Uint8Array(32 * 32 * 3), width: 32, height: 32 }, { layer: 'feat' });
    expect(Math.abs(cam.probabilities[0] - p[0])).toBeLessThan(1e-6);
    // A black image has no red or blue: no positive evidence, an all-zero map rather than NaN.
    expect(cam.hasEvidence).toBe(false);
    expect(cam.inputMap.data.every((v) => v === 0)).toBe(true);
    model.dispose();
  });

  it('writes heatmap and overlay PNGs at the photo size', async () => {
    const { model, meta } = detectorModel(true, 32);
    const e = await explainPhoto({ model, meta }, await encodeRgbPng(photo()), { layer: 'feat', classIndex: 1 });
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gradcam-'));
    const files = await writeExplanationPngs(e, dir, 'photo');
    expect(path.basename(files.heatmap)).toBe('photo.heatmap.png');
    expect(path.basename(files.overlay)).toBe('photo.overlay.png');
    const h = await decodePhoto(await fs.readFile(files.heatmap));
    expect([h.width, h.height]).toEqual([W, H]);
    expect(h.data[((RED.y0 + 15) * W + RED.x0 + 12) * 3]).toBeGreaterThan(230);
    expect(h.data[((BLUE.y0 + 15) * W + BLUE.x0 + 12) * 3]).toBeLessThan(13);
    const o = await decodePhoto(await fs.readFile(files.overlay));
    expect([o.width, o.height]).toEqual([W, H]);
    expect((await heatmapPng(e)).equals(await fs.readFile(files.heatmap))).toBe(true);
    expect((await overlayPng(e)).length).toBeGreaterThan(100);
    expect((await fs.readdir(dir)).sort()).toEqual(['photo.heatmap.png', 'photo.overlay.png']);
    model.dispose();
  });
});

describe('inputMapToPhoto', () => {
  it('inverts the centre crop (cover) and the letterbox (contain)', () => {
    // Input map 10×10 with a hot left half.
    const S = 10;
    const data = new Float32Array(S * S);
    for (let y = 0; y < S; y++) for (let x = 0; x < 5; x++) data[y * S + x] = 1;
    // contain, photo 200×100: the photo fills the input's width; hot = photo's left half.
    const c = inputMapToPhoto({ data, width: S, height: S }, 'contain', 200, 100);
    expect(c.data[50 * 200 + 40]).toBe(1);
    expect(c.data[50 * 200 + 160]).toBe(0);
    // cover, photo 200×100: input spans photo x 50..150; hot = x 50..100, margins 0.
    const v = inputMapToPhoto({ data, width: S, height: S }, 'cover', 200, 100);
    expect(v.data[50 * 200 + 75]).toBe(1);
    expect(v.data[50 * 200 + 125]).toBe(0);
    expect(v.data[50 * 200 + 20]).toBe(0);
  });
});

describe('every registered architecture has its Grad-CAM layer', () => {
  beforeAll(async () => {
    await initBackend('wasm', () => {});
  });
  for (const spec of listArchs()) {
    it(spec.name, async () => {
      const layer = GRADCAM_LAYERS[spec.name];
      expect(layer, `GRADCAM_LAYERS has no entry for ${spec.name}`).toBeTypeOf('string');
      const imgSize = Math.max(spec.minImgSize, 32);
      const { model, meta } = buildClassifier({ arch: spec.name, mode: spec.pretrained ? 'extract' : 'scratch', imgSize, numClasses: 3, seed: 1 });
      const shape = (model.getLayer(layer).output as tfl.SymbolicTensor).shape;
      expect(shape.length).toBe(4);
      const pixels = { data: new Uint8Array(imgSize * imgSize * 3).map((_, i) => (i * 37) % 256), width: imgSize, height: imgSize };
      const c = { model, meta: { ...meta, format: 'parts-classifier/1' as const, labels: ['a', 'b', 'c'], fit: 'cover' as const } };
      const y = model.predict(imagesToBatch([pixels], meta)) as tf.Tensor;
      const p = (await y.data()) as Float32Array;
      tf.dispose(y);
      // Grad-CAM and the default method: the map at the layer's resolution, the model's own probabilities, no tensor left.
      for (const method of ['grad-cam', DEFAULT_CAM_METHOD] as const) {
        const before = tf.memory().numTensors;
        const cam = await gradCamForInput(c, pixels, { method });
        expect(tf.memory().numTensors, method).toBe(before);
        expect([cam.layerMap.height, cam.layerMap.width]).toEqual([shape[1], shape[2]]);
        expect(cam.inputMap.width).toBe(imgSize);
        expect(cam.layerMap.data.every((v) => v >= 0 && v <= 1)).toBe(true);
        // The hand-evaluated head gives the model's own probabilities.
        expect(Math.max(...Array.from(p, (v, i) => Math.abs(v - cam.probabilities[i])))).toBeLessThan(1e-5);
      }
      model.dispose();
    });
  }
});
