import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import h5wasm from 'h5wasm/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import {
  applyWeightsChoice,
  cachedWeightsDir,
  loadCachedBaseWeights,
  loadKerasWeightsIntoModel,
  readKerasH5Weights,
  saveCachedBaseWeights,
  writeKerasH5Weights,
} from '../src/weights/index';

// Small conv + BN + dense model with named layers; `names` lets a test rename layers (order matching).
function smallModel(opts: { filters?: number; names?: [string, string, string]; extraDense?: boolean; seed?: number } = {}) {
  const [conv, bn, fc] = opts.names ?? ['conv1', 'bn1', 'fc'];
  const seed = opts.seed ?? 1;
  const input = tfl.input({ shape: [6, 6, 3], name: 'img' });
  let x = tfl.layers
    .conv2d({ filters: opts.filters ?? 4, kernelSize: 3, name: conv, kernelInitializer: tfl.initializers.glorotUniform({ seed }) })
    .apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: bn, epsilon: 1e-3 }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.activation({ activation: 'relu', name: 'relu' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({ units: 3, name: fc, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }) }).apply(x) as tfl.SymbolicTensor;
  if (opts.extraDense) x = tfl.layers.dense({ units: 2, name: 'extra' }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: x });
}

// Deterministic, distinct values per weight (variances kept positive), so a swapped or misplaced weight shows.
function setKnownWeights(model: tfl.LayersModel): void {
  let k = 0;
  for (const layer of model.layers) {
    if (!layer.weights.length) continue;
    const values = layer.weights.map((w) => {
      const size = (w.shape as number[]).reduce((a, b) => a * b, 1);
      const data = Float32Array.from({ length: size }, (_, i) => {
        const v = Math.sin(1 + k * 7.3 + i * 0.37);
        return w.originalName.endsWith('moving_variance') ? 0.5 + Math.abs(v) : v;
      });
      k++;
      return tf.tensor(data, w.shape as number[]);
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
}

// Per layer, in layer.weights order (model.getWeights() lists all trainable weights first).
function allWeights(model: tfl.LayersModel): Float32Array[] {
  return model.layers.flatMap((l) => l.getWeights()).map((t) => {
    const d = t.dataSync() as Float32Array;
    return Float32Array.from(d);
  });
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

const probe = () => tf.tensor4d(Float32Array.from({ length: 2 * 6 * 6 * 3 }, (_, i) => Math.cos(i * 0.11)), [2, 6, 6, 3]);

function predictArray(model: tfl.LayersModel): Float32Array {
  return tf.tidy(() => (model.predict(probe()) as tf.Tensor).dataSync() as Float32Array).slice();
}

let dir: string;
let h5File: string;
let source: tfl.LayersModel;

beforeAll(async () => {
  await initBackend('cpu', () => {});
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'parts-weights-h5-'));
  source = smallModel({ seed: 1 });
  setKnownWeights(source);
  h5File = path.join(dir, 'small.h5');
  await writeKerasH5Weights(source, h5File);
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('Keras HDF5 layout', () => {
  it('writes layer_names / weight_names / <layer>/<weight> like Keras save_weights', async () => {
    await h5wasm.ready;
    const f = new h5wasm.File(h5File, 'r');
    try {
      expect(f.attrs['layer_names'].value).toEqual(['img', 'conv1', 'bn1', 'relu', 'gap', 'fc']);
      const bn = f.get('bn1') as InstanceType<typeof h5wasm.Group>;
      expect(bn.attrs['weight_names'].value).toEqual([
        'bn1/gamma:0',
        'bn1/beta:0',
        'bn1/moving_mean:0',
        'bn1/moving_variance:0',
      ]);
      const kernel = f.get('conv1/conv1/kernel:0') as InstanceType<typeof h5wasm.Dataset>;
      expect(kernel.shape).toEqual([3, 3, 3, 4]);
      expect(kernel.dtype).toBe('<f');
    } finally {
      f.close();
    }
  });

  it('reads back the exact values, shapes and order', async () => {
    const read = await readKerasH5Weights(h5File);
    expect([...read.keys()]).toEqual(['img', 'conv1', 'bn1', 'relu', 'gap', 'fc']);
    expect(read.get('relu')).toEqual([]);
    const expected = allWeights(source);
    const got = [...read.values()].flat();
    expect(got.map((w) => w.name)).toEqual([
      'conv1/kernel:0', 'conv1/bias:0',
      'bn1/gamma:0', 'bn1/beta:0', 'bn1/moving_mean:0', 'bn1/moving_variance:0',
      'fc/kernel:0', 'fc/bias:0',
    ]);
    expect(got.map((w) => w.shape)).toEqual([[3, 3, 3, 4], [4], [4], [4], [4], [4], [4, 3], [3]]);
    got.forEach((w, i) => expect(Array.from(w.values)).toEqual(Array.from(expected[i])));
  });

  it('reads a full-model file (model_weights/ prefix), float64 and int64 datasets', async () => {
    await h5wasm.ready;
    const file = path.join(dir, 'full-model.h5');
    const f = new h5wasm.File(file, 'w');
    f.create_attribute('model_config', '{}');
    const mw = f.create_group('model_weights');
    mw.create_attribute('layer_names', ['normalization', 'dense'], [2], 'S13');
    const norm = mw.create_group('normalization');
    norm.create_attribute('weight_names', ['normalization/mean:0', 'normalization/count:0'], [2], 'S21');
    const ng = norm.create_group('normalization');
    ng.create_dataset({ name: 'mean:0', data: new Float64Array([0.25, 0.5, 0.75]), shape: [3], dtype: '<d' });
    ng.create_dataset({ name: 'count:0', data: new BigInt64Array([7n]), shape: [], dtype: '<q' });
    const dense = mw.create_group('dense');
    dense.create_attribute('weight_names', ['dense/kernel:0'], [1], 'S14');
    dense.create_group('dense').create_dataset({ name: 'kernel:0', data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3], dtype: '<f' });
    f.close();

    const read = await readKerasH5Weights(file);
    expect([...read.keys()]).toEqual(['normalization', 'dense']);
    const [mean, count] = read.get('normalization')!;
    expect(Array.from(mean.values)).toEqual([0.25, 0.5, 0.75]);
    expect(mean.values).toBeInstanceOf(Float32Array);
    expect(count.shape).toEqual([]);
    expect(Array.from(count.values)).toEqual([7]);
    expect(read.get('dense')![0].shape).toEqual([2, 3]);
  });

  it('reads layer names split over name0, name1 ... attributes (long lists)', async () => {
    await h5wasm.ready;
    const file = path.join(dir, 'chunked.h5');
    const f = new h5wasm.File(file, 'w');
    f.create_attribute('layer_names0', ['a'], [1], 'S1');
    f.create_attribute('layer_names1', ['b'], [1], 'S1');
    f.create_group('a').create_attribute('weight_names', [], [0], 'S1');
    f.create_group('b').create_attribute('weight_names', [], [0], 'S1');
    f.close();
    expect([...(await readKerasH5Weights(file)).keys()]).toEqual(['a', 'b']);
  });

  it('rejects files that are not Keras weights with a message naming the file', async () => {
    const notH5 = path.join(dir, 'not.h5');
    await fs.writeFile(notH5, 'hello');
    await expect(readKerasH5Weights(notH5)).rejects.toThrow(/not\.h5 is not a readable HDF5 file/);
    await expect(readKerasH5Weights(path.join(dir, 'absent.h5'))).rejects.toThrow(/absent\.h5 does not exist/);
    await h5wasm.ready;
    const empty = path.join(dir, 'empty.h5');
    new h5wasm.File(empty, 'w').close();
    await expect(readKerasH5Weights(empty)).rejects.toThrow(/empty\.h5 is not a Keras weights file: no 'layer_names'/);
  });
});

describe('files written by h5py the way Keras 2 writes them (test/fixtures, see make_keras_h5.py)', () => {
  const fixture = (name: string) => path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', name);

  for (const name of ['keras2-small.h5', 'keras2-small-full.h5']) {
    it(`${name}: reads and loads into the matching tfjs model with the expected outputs`, async () => {
      const read = await readKerasH5Weights(fixture(name));
      expect([...read.keys()]).toEqual(['img', 'conv1', 'bn1', 'relu', 'gap', 'fc']);
      // Keras writes np.asarray([]) (float64) as weight_names of weightless layers
      expect(read.get('gap')).toEqual([]);
      expect(read.get('bn1')!.map((w) => w.name)).toEqual(['bn1/gamma:0', 'bn1/beta:0', 'bn1/moving_mean:0', 'bn1/moving_variance:0']);

      const fresh = smallModel({ seed: 23 });
      expect(await loadKerasWeightsIntoModel(fresh, fixture(name))).toEqual({ loaded: 3, skipped: [] });
      // `source` got the same formula from setKnownWeights; numpy's and V8's sin may differ in the last
      // float64 bit, which can flip a float32 rounding, hence the 1e-6 tolerance.
      const want = allWeights(source);
      allWeights(fresh).forEach((w, i) => expect(maxAbsDiff(w, want[i])).toBeLessThan(1e-6));
      expect(maxAbsDiff(predictArray(fresh), predictArray(source))).toBeLessThan(1e-5);
    });
  }
});

describe('loadKerasWeightsIntoModel', () => {
  it('round-trips: a fresh model of the same topology gets identical weights and outputs', async () => {
    const fresh = smallModel({ seed: 99 });
    expect(predictArray(fresh)).not.toEqual(predictArray(source));
    const tensorsBefore = tf.memory().numTensors;
    const res = await loadKerasWeightsIntoModel(fresh, h5File);
    expect(res).toEqual({ loaded: 3, skipped: [] });
    expect(tf.memory().numTensors).toBe(tensorsBefore); // no leaked tensors
    const want = allWeights(source);
    allWeights(fresh).forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(want[i])));
    expect(Array.from(predictArray(fresh))).toEqual(Array.from(predictArray(source)));
  });

  it('matches by topological order like Keras, whatever the layer names', async () => {
    const renamed = smallModel({ names: ['res2a_branch2a', 'bn2a_branch2a', 'fc1000'], seed: 5 });
    expect((await loadKerasWeightsIntoModel(renamed, h5File)).loaded).toBe(3);
    expect(Array.from(predictArray(renamed))).toEqual(Array.from(predictArray(source)));
  });

  it('a shape mismatch names the layer and both shapes, and leaves the model untouched', async () => {
    const wrong = smallModel({ filters: 5, seed: 7 });
    const before = allWeights(wrong);
    const err = await loadKerasWeightsIntoModel(wrong, h5File).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const msg = (err as Error).message;
    expect(msg).toContain("layer 'conv1'");
    expect(msg).toContain('conv1/kernel:0');
    expect(msg).toContain('file [3, 3, 3, 4] vs model [3, 3, 3, 5]');
    expect(msg).toContain(h5File);
    allWeights(wrong).forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(before[i])));
  });

  it('a layer count mismatch names the unmatched layers', async () => {
    const extra = smallModel({ extraDense: true });
    await expect(loadKerasWeightsIntoModel(extra, h5File)).rejects.toThrow(
      /file has 3 layers with weights but the model has 4; model layers missing from the file: extra/,
    );
    const renamedExtra = tfl.sequential({
      layers: [tfl.layers.dense({ inputShape: [2], units: 2, name: 'x1' }), tfl.layers.dense({ units: 2, name: 'x2' })],
    });
    await expect(loadKerasWeightsIntoModel(renamedExtra, h5File)).rejects.toThrow(/unmatched file layers: fc/);
  });

  it('byName loads matching layers and reports the missing ones; skipMismatch skips bad shapes', async () => {
    const extra = smallModel({ extraDense: true, seed: 3 });
    const res = await loadKerasWeightsIntoModel(extra, h5File, { byName: true });
    expect(res).toEqual({ loaded: 3, skipped: ['extra'] });
    expect(Array.from(extra.getLayer('fc').getWeights()[0].dataSync())).toEqual(
      Array.from(source.getLayer('fc').getWeights()[0].dataSync()),
    );

    const wrong = smallModel({ filters: 5 });
    await expect(loadKerasWeightsIntoModel(wrong, h5File, { byName: true })).rejects.toThrow(/file \[3, 3, 3, 4\] vs model \[3, 3, 3, 5\]/);
    // conv1 and bn1 both change shape with 5 filters; fc (4→3 kernel) too since its input has 5 channels.
    const skipped = await loadKerasWeightsIntoModel(wrong, h5File, { byName: true, skipMismatch: true });
    expect(skipped).toEqual({ loaded: 0, skipped: ['conv1', 'bn1', 'fc'] });
    await expect(loadKerasWeightsIntoModel(wrong, h5File, { skipMismatch: true })).rejects.toThrow(/only supported together with byName/);
  });

  it('applyWeightsChoice: none keeps the init, a path loads that .h5', async () => {
    const m = smallModel({ seed: 11 });
    const before = predictArray(m);
    expect(await applyWeightsChoice(m, 'none', { arch: 'small', url: 'http://127.0.0.1:9/x.h5', md5: '0'.repeat(32) })).toEqual({ source: 'none' });
    expect(Array.from(predictArray(m))).toEqual(Array.from(before));
    const res = await applyWeightsChoice(m, h5File, { arch: 'small', url: 'http://127.0.0.1:9/x.h5', md5: '0'.repeat(32) });
    expect(res).toMatchObject({ source: 'file', loaded: 3, h5Path: h5File });
    expect(Array.from(predictArray(m))).toEqual(Array.from(predictArray(source)));
  });
});

describe('tfjs-format weights cache', () => {
  it('saves atomically and loads back exactly; a cache for other layers is a miss', async () => {
    const cacheDir = path.join(dir, 'cache');
    const key = { arch: 'small', md5: 'ab'.repeat(16), cacheDir };
    const saved = await saveCachedBaseWeights(source, key);
    expect(saved).toBe(cachedWeightsDir(key));
    expect((await fs.readdir(saved)).sort()).toEqual(['weights.bin', 'weights.json']);
    // no temp folders left beside it
    expect(await fs.readdir(path.dirname(saved))).toEqual([path.basename(saved)]);
    const manifest = JSON.parse(await fs.readFile(path.join(saved, 'weights.json'), 'utf8'));
    expect(manifest.weightsManifest[0].paths).toEqual(['weights.bin']);
    expect((await fs.stat(path.join(saved, 'weights.bin'))).size).toBe(4 * (108 + 4 + 16 + 12 + 3));

    const fresh = smallModel({ seed: 42 });
    expect(await loadCachedBaseWeights(fresh, key)).toEqual({ loaded: 3, skipped: [] });
    expect(Array.from(predictArray(fresh))).toEqual(Array.from(predictArray(source)));

    const logs: string[] = [];
    const other = smallModel({ names: ['c', 'b', 'f'] });
    expect(await loadCachedBaseWeights(other, key, (m) => logs.push(m))).toBeUndefined();
    expect(logs.join('\n')).toMatch(/saved for a model with other layers/);
    expect(await loadCachedBaseWeights(fresh, { ...key, md5: 'cd'.repeat(16) })).toBeUndefined();

    // a damaged bin is a miss, not a crash or a wrong load
    await fs.writeFile(path.join(saved, 'weights.bin'), Buffer.alloc(12));
    expect(await loadCachedBaseWeights(fresh, key, (m) => logs.push(m))).toBeUndefined();
    expect(logs.at(-1)).toMatch(/weights\.bin has 12 bytes/);
  });
});
