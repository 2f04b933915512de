// ONNX export of every registered architecture: the exported graph, run on ONNX Runtime, gives the
// tfjs model's probabilities, features and logits (random weights everywhere, batch-norm statistics
// included, so every weight's layout matters), and the file passes Debian's onnx.checker.
import { spawnSync } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import seedrandom from 'seedrandom';
import { initBackend } from '@parts/backend';
import type { RawImage } from '@parts/data';
import { buildClassifier, computeFeaturesAndLogits, featureAndLogitModel, imagesToBatch, listArchs, type ClassifierMeta, type TrainMode } from '../src/index';
import { exportOnnx, onnxClassifierMeta } from '../src/onnx/export-onnx';
import { samePads } from '../src/onnx/layer-converters';
import { loadOnnxRuntime, type RuntimeProbe } from '../src/onnx/onnx-runtime';
import { OnnxForward } from '../src/onnx/onnx-forward';

let runtime: RuntimeProbe;
beforeAll(async () => {
  await initBackend('cpu', () => {});
  runtime = await loadOnnxRuntime();
});

/** Random weights for every layer (variances positive), so a wrong weight layout cannot pass. */
function randomise(model: tfl.LayersModel, seed: number): void {
  const rng = seedrandom(String(seed));
  for (const layer of model.layers) {
    const ws = layer.getWeights();
    if (!ws.length) continue;
    const next = layer.weights.map((w, i) => {
      const n = ws[i].size;
      const variance = /variance/.test(w.originalName ?? w.name);
      const fanIn = ws[i].shape.length > 1 ? ws[i].shape.slice(0, -1).reduce((a, b) => a * b, 1) : 1;
      const scale = variance ? 1 : ws[i].shape.length > 1 ? Math.sqrt(2 / fanIn) : 0.2;
      const v = Float32Array.from({ length: n }, () => (variance ? 0.5 + rng() : (rng() * 2 - 1) * scale * 1.7));
      return tf.tensor(v, ws[i].shape);
    });
    layer.setWeights(next);
    tf.dispose(next);
  }
}

function images(n: number, size: number, seed: number): RawImage[] {
  const rng = seedrandom(`img${seed}`);
  return Array.from({ length: n }, () => ({ data: Uint8Array.from({ length: size * size * 3 }, () => Math.floor(rng() * 256)), width: size, height: size }));
}

function metaOf(arch: string, mode: TrainMode, labels: string[], imgSize: number, built: { preprocess: ClassifierMeta['preprocess']; outputActivation: ClassifierMeta['outputActivation'] }): ClassifierMeta {
  return { format: 'parts-classifier/1', arch, mode, labels, imgSize, fit: 'cover', preprocess: built.preprocess, outputActivation: built.outputActivation };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

// Each architecture at its smallest input, 3 classes (softmax); PartsNet also with 2 (sigmoid head)
// and a pretrained base in extract mode (its Dense layer is shared with the head model).
const cases: { arch: string; mode: TrainMode; classes: number }[] = [
  ...listArchs().map((a) => ({ arch: a.name, mode: 'scratch' as TrainMode, classes: 3 })),
  { arch: 'partsnet', mode: 'scratch', classes: 2 },
  { arch: 'efficientnet', mode: 'extract', classes: 2 },
];

describe.each(cases)('$arch ($mode, $classes classes)', ({ arch, mode, classes }) => {
  it('round-trips through ONNX Runtime with the tfjs outputs', async (ctx) => {
    if (!runtime.ok) ctx.skip(`ONNX Runtime unavailable: ${runtime.reason}`);
    const ort = (runtime as Extract<RuntimeProbe, { ok: true }>).ort;
    const spec = listArchs().find((a) => a.name === arch)!;
    const size = spec.minImgSize;
    const labels = Array.from({ length: classes }, (_, i) => `c${i}`);
    const built = buildClassifier({ arch, mode, numClasses: classes, imgSize: size, seed: 3 });
    const meta = metaOf(arch, mode, labels, size, built.meta);
    randomise(built.model, 7);
    const bytes = exportOnnx(built.model, meta);
    expect(onnxClassifierMeta(bytes)).toEqual(meta);

    const ims = images(3, size, 1);
    const fl = featureAndLogitModel(built.model);
    const want = await computeFeaturesAndLogits(fl, ims, meta);
    const probsTf = tf.tidy(() => built.model.predict(imagesToBatch(ims, meta)) as tf.Tensor);
    const forward = await OnnxForward.create(ort, bytes, meta, { threads: 1 });
    try {
      const got = await forward.featuresAndLogits(ims, 2); // two runs: a full and a partial batch
      expect(got.numClasses).toBe(want.numClasses);
      const tol = (x: ArrayLike<number>) => 1e-4 * Math.max(1, maxAbs(x));
      expect(maxAbsDiff(got.features, want.features)).toBeLessThanOrEqual(tol(want.features));
      expect(maxAbsDiff(got.logits, want.logits)).toBeLessThanOrEqual(tol(want.logits));
      expect(maxAbs(want.logits)).toBeGreaterThan(1e-3); // a dead network would compare zeros
      // The model's own output (probabilities), as Keras' predict gives it.
      expect(maxAbsDiff(await forward.modelOutputs(ims), probsTf.dataSync())).toBeLessThanOrEqual(1e-4);
    } finally {
      await forward.release();
      fl.dispose();
      probsTf.dispose();
      built.model.dispose();
    }
  });
});

it("pads 'same' like TensorFlow: the extra pixel at the end", () => {
  expect(samePads(8, 3, 2)).toEqual([0, 1]);
  expect(samePads(7, 3, 2)).toEqual([1, 1]);
  expect(samePads(8, 2, 2)).toEqual([0, 0]);
  expect(samePads(5, 3, 1)).toEqual([1, 1]);
});

const DEBIAN_PYTHON = '/usr/bin/python3';
const hasOnnx = existsSync(DEBIAN_PYTHON) && spawnSync(DEBIAN_PYTHON, ['-c', 'import onnx'], { encoding: 'utf8' }).status === 0;

describe('onnx.checker (python3-onnx)', () => {
  it.skipIf(!hasOnnx)('accepts the exported file of every architecture', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'onnx-check-'));
    try {
      const files: string[] = [];
      for (const a of listArchs()) {
        const size = a.minImgSize;
        const built = buildClassifier({ arch: a.name, mode: 'scratch', numClasses: 2, imgSize: size, seed: 1 });
        const file = path.join(dir, `${a.name}.onnx`);
        await fsp.writeFile(file, exportOnnx(built.model, metaOf(a.name, 'scratch', ['a', 'b'], size, built.meta)));
        built.model.dispose();
        files.push(file);
      }
      const script = 'import sys, onnx\nfor f in sys.argv[1:]:\n    onnx.checker.check_model(onnx.load(f), full_check=True)\n    print("ok", f)';
      const r = spawnSync(DEBIAN_PYTHON, ['-c', script, ...files], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout.trim().split('\n')).toHaveLength(files.length);
      // The checker does catch a broken file: an unknown operator.
      const bad = path.join(dir, 'bad.onnx');
      const r2 = spawnSync(DEBIAN_PYTHON, ['-c', `import onnx\nm = onnx.load("${files[0]}")\nm.graph.node[0].op_type = "NoSuchOp"\nonnx.save(m, "${bad}")`], { encoding: 'utf8' });
      expect(r2.status).toBe(0);
      expect(spawnSync(DEBIAN_PYTHON, ['-c', script, bad], { encoding: 'utf8' }).status).not.toBe(0);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
  it.runIf(!hasOnnx)('is skipped: python3-onnx is not installed (scripts/setup.sh installs it as root on Debian)', () => {
    expect(hasOnnx).toBe(false);
  });
});
