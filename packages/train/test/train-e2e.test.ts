import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { repoRoot } from '@parts/cli';
import { disposeClassifier, loadClassifier, loadPredictor } from '@parts/models';
import { predictFiles, train } from '../src/index';
import { demoWorkspace, QUICK_TRAIN } from './fixtures';

let data: string;
let out: string;
const quick = QUICK_TRAIN;

beforeAll(async () => {
  ({ data, out } = await demoWorkspace('train-e2e-', { seed: 3, trainPerClass: 6, testPerClass: 3, width: 160, height: 120 }));
});

const readJson = async (dir: string, f: string) => JSON.parse(await fs.readFile(path.join(dir, f), 'utf8'));

describe('train()', () => {
  it('writes a complete run folder and is reproducible from its seed', async () => {
    const a = await train({ ...quick, data, out, seed: 7 });
    const b = await train({ ...quick, data, out, seed: 7 });
    const c = await train({ ...quick, data, out, seed: 8 });
    for (const f of ['config.json', 'labels.json', 'history.json', 'metrics.json', 'model/model.json', 'model/weights.bin', 'model/classifier.json']) {
      await expect(fs.access(path.join(a.runDir, f)), f).resolves.toBeUndefined();
    }
    const config = await readJson(a.runDir, 'config.json');
    expect(config.backend.name).toBe('wasm');
    expect(config.data.classes).toEqual(['big', 'small']);
    expect(config.data.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(config.data.counts.test).toEqual([3, 3]);
    expect(config.options.seed).toBe(7);
    expect(await readJson(a.runDir, 'labels.json')).toEqual(['big', 'small']);
    const metrics = await readJson(a.runDir, 'metrics.json');
    expect(metrics.test.n).toBe(6);
    expect(metrics.epochsRun).toBe(3);
    // Same seed, data and backend: the same history, number for number.
    const losses = (r: typeof a) => r.history.epochs.map((e) => [e.loss, e.valLoss]);
    expect(losses(b)).toEqual(losses(a));
    expect(losses(c)).not.toEqual(losses(a));
    expect((await fs.readdir(out)).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
  });

  it('leaves no run folder behind when a run fails', async () => {
    const failOut = path.join(out, 'failing');
    await expect(train({ ...quick, arch: 'vgg16', mode: 'extract', imgSize: 32, weights: '/nonexistent/weights.h5', data, out: failOut })).rejects.toThrow(/nonexistent/);
    expect(await fs.readdir(failOut)).toEqual([]);
  });

  it('does not grow the tensor count over a run', async () => {
    const before = tf.memory().numTensors;
    await train({ ...quick, data, out, epochs: 2 });
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('predict', () => {
  it('classifies images with the saved model, reporting a bad file without stopping', async () => {
    const run = await train({ ...quick, data, out, seed: 1 });
    const c = await loadPredictor(run.runDir);
    const testDir = path.join(data, 'test');
    const good = [path.join(testDir, 'big', (await fs.readdir(path.join(testDir, 'big')))[0]), path.join(testDir, 'small', (await fs.readdir(path.join(testDir, 'small')))[0])];
    const bad = path.join(out, 'not-an-image.jpg');
    await fs.writeFile(bad, 'hello');
    const results = [];
    for await (const r of predictFiles(c, [good[0], bad, good[1]])) results.push(r);
    c.dispose();
    expect(results.map((r) => r.file)).toEqual([good[0], bad, good[1]]);
    expect(results[1].error).toMatch(/not-an-image\.jpg/);
    for (const r of [results[0], results[2]]) {
      expect(['big', 'small']).toContain(r.top);
      const p = Object.values(r.probabilities!);
      expect(p.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 5);
      expect(r.probabilities![r.top!]).toBe(Math.max(...p));
    }

    // The CLI prints JSON lines and exits non-zero when a file failed.
    const tsx = path.join(repoRoot(), 'node_modules', '.bin', 'tsx');
    const cli = path.join(repoRoot(), 'packages', 'train', 'src', 'cli', 'predict.ts');
    const err = await promisify(execFile)(tsx, [cli, '--model', run.runDir, '--json', '--backend', 'wasm', good[0], bad]).then(
      () => null,
      (e: { code: number; stdout: string }) => e,
    );
    expect(err?.code).toBe(1);
    const lines = err!.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0].file).toBe(good[0]);
    expect(['big', 'small']).toContain(lines[0].top); // label may be null once the run has an ood.json
    expect(lines[1].error).toBeTruthy();
  });
});

describe('feature extraction', () => {
  it('trains only the head on stored base features and leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    const r = await train({ ...quick, arch: 'vgg16', mode: 'extract', weights: 'none', imgSize: 32, augment: 'none', epochs: 2, data, out });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.metrics.test!.n).toBe(6);
    const config = await readJson(r.runDir, 'config.json');
    expect(config.mode).toBe('extract');
    // The saved model is the whole classifier (base + head), usable by predict and serve.
    const c = await loadClassifier(r.runDir);
    expect(c.model.inputs[0].shape).toEqual([null, 32, 32, 3]);
    disposeClassifier(c);
  });
});
