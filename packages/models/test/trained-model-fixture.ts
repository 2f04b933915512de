// Test fixture shared by the predict and serve tests: a small classifier trained in a few seconds
// on the repo's generated demo photos (big/small bolts), saved with saveClassifier, plus its
// ood.json fitted with fitDetector + writeOodFile as training does. Needs a tfjs backend.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { decodeImage, generateDemoDataset, type RawImage } from '@parts/data';
import {
  computeFeaturesAndLogits,
  featureAndLogitModel,
  fitDetector,
  imagesToBatch,
  saveClassifier,
  silhouetteFitInput,
  writeOodFile,
  type ClassifierMeta,
  type OodMethod,
} from '../src/index';

export const FIXTURE_LABELS = ['big', 'small'];

export interface TrainedFixture {
  /** The model folder (classifier.json, model.json, weights, ood.json unless withOod is false). */
  modelDir: string;
  /** The generated demo dataset (train/ and test/ of big and small). */
  dataDir: string;
  /** Test photos not used for the threshold: [file, label]. */
  known: { file: string; label: string }[];
}

async function listSplit(data: string, split: string): Promise<{ file: string; label: number }[]> {
  const out: { file: string; label: number }[] = [];
  for (const [label, cls] of FIXTURE_LABELS.entries()) {
    for (const f of (await fs.readdir(path.join(data, split, cls))).sort()) out.push({ file: path.join(data, split, cls, f), label });
  }
  return out;
}

/**
 * A small classifier of the demo photos, built so that tests stay fast on a loaded 2-core machine:
 * `block2_conv2` (the layer Grad-CAM takes for tinyvgg) is a fixed 1×1 convolution with four
 * channels (dark part pixels, bright paper, two colour tints), then global average pooling and
 * the Dense head, which is fitted on the 24 training photos: the logit of `big` grows with the
 * share of dark pixels and is 0 midway between the two classes' mean share. ood.json: `method`
 * fitted on the training photos, the threshold (95% accepted) and temperature on the first 3 test
 * photos of each class; the other test photos are returned in `known`. `silhouette: true` also
 * fits the silhouette part on the same train and threshold photos, as training does.
 */
export async function makeTrainedModel(dir: string, o: { runId?: string; withOod?: boolean; method?: OodMethod; silhouette?: boolean } = {}): Promise<TrainedFixture> {
  const dataDir = path.join(dir, 'demo');
  await generateDemoDataset(dataDir, { seed: 3, width: 320, height: 240, trainPerClass: 12, testPerClass: 6 });
  const size = 32;
  const meta: ClassifierMeta = {
    format: 'parts-classifier/1',
    arch: 'tinyvgg',
    mode: 'scratch',
    labels: FIXTURE_LABELS,
    imgSize: size,
    fit: 'cover',
    preprocess: 'rescale01',
    outputActivation: 'softmax',
    runId: o.runId ?? 'demo-fixture',
  };
  const decode = (file: string) => decodeImage(file, { size, fit: 'cover' });
  const train = await listSplit(dataDir, 'train');
  const test = await listSplit(dataDir, 'test');
  const trainImgs: RawImage[] = await Promise.all(train.map((t) => decode(t.file)));
  const input = tfl.input({ shape: [size, size, 3], name: 'input' });
  const conv = tfl.layers.conv2d({ filters: 4, kernelSize: 1, activation: 'relu', name: 'block2_conv2' });
  const gap = tfl.layers.globalAveragePooling2d({ name: 'gap' });
  const dense = tfl.layers.dense({ units: 2, activation: 'softmax', name: 'predictions' });
  const model = tfl.model({ inputs: input, outputs: dense.apply(gap.apply(conv.apply(input))) as tfl.SymbolicTensor });
  const [lr, lg, lb] = [0.299, 0.587, 0.114];
  // Channels: 10·(0.45 − luminance) (dark), luminance − 0.3 (paper), 5·(G − R) + 0.5, 5·(B − G) + 0.5; each after ReLU.
  conv.setWeights([
    tf.tensor4d([-10 * lr, lr, -5, 0, -10 * lg, lg, 5, -5, -10 * lb, lb, 0, 5], [1, 1, 3, 4]),
    tf.tensor1d([4.5, -0.3, 0.5, 0.5]),
  ]);
  // The fit: mean dark feature per class on the training photos, boundary at their midpoint.
  const fl0 = featureAndLogitModel(model);
  const f0 = await computeFeaturesAndLogits(fl0, trainImgs, meta);
  fl0.dispose();
  const mean = [0, 1].map((c) => {
    const idx = train.flatMap((t, i) => (t.label === c ? [i] : []));
    return idx.reduce((s, i) => s + f0.features[i * f0.featureDim]!, 0) / idx.length;
  });
  const mid = (mean[0]! + mean[1]!) / 2;
  const k = 1 / Math.max(1e-6, Math.abs(mean[0]! - mean[1]!));
  const sign = mean[0]! > mean[1]! ? 1 : -1;
  // z_big = sign·k·(dark − mid), z_small = −z_big.
  dense.setWeights([tf.tensor2d([[sign * k, -sign * k], [0, 0], [0, 0], [0, 0]]), tf.tensor1d([-sign * k * mid, sign * k * mid])]);
  const modelDir = path.join(dir, 'model');
  await saveClassifier(model, meta, modelDir);

  const val = test.filter((_, i) => i % 6 < 3);
  const known = test.filter((_, i) => i % 6 >= 3).map((t) => ({ file: t.file, label: FIXTURE_LABELS[t.label]! }));
  if (o.withOod !== false) {
    const fl = featureAndLogitModel(model);
    const rows = async (items: { file: string; label: number }[], imgs?: RawImage[]) => ({
      ...(await computeFeaturesAndLogits(fl, imgs ?? (await Promise.all(items.map((t) => decode(t.file)))), meta)),
      labels: items.map((t) => t.label),
    });
    const valImgs = await Promise.all(val.map((t) => decode(t.file)));
    const silhouette = o.silhouette ? silhouetteFitInput({ train: trainImgs, val: valImgs }) : undefined;
    const det = fitDetector(await rows(train, trainImgs), await rows(val, valImgs), FIXTURE_LABELS, { method: o.method ?? 'knn', silhouette });
    if (o.silhouette && !det.silhouette) throw new Error(`trained-model fixture: no silhouette part (${det.silhouetteNote})`);
    await writeOodFile(modelDir, det);
    fl.dispose();
  }
  model.dispose();
  return { modelDir, dataDir, known };
}
