import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { promoteBest, promoteEvaluated, promoteRun, readModelCard, rollback } from '../src/promote';
import { EVALUATION_JSON } from '../src/evaluation-record';
import type { Evaluation } from '../src/evaluation-record';
import type { ReportRun } from '../src/leaderboard';
import { fakeRun, otherScope, tempDir, writeJpeg } from './helpers';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@parts/backend';
import { checkParityDir, disposeClassifier, loadClassifier, PARITY_TOLERANCE, readParity, saveClassifier } from '@parts/models';

// The runs of fakeRun hold no loadable model and no photos: the ranking tests promote them with
// `parity: false`; the parity record is tested on a real model and dataset at the end.

const labels = ['big', 'small'];

const servedRun = async (target: string) => JSON.parse(await fs.readFile(path.join(target, 'model.json'), 'utf8')).runId;
const leftovers = async (parent: string) => (await fs.readdir(parent)).filter((n) => n.startsWith('.'));

describe('promotion', () => {
  it('promotes with a model card, keeps the previous model, refuses a worse run unless forced, and rolls back', async () => {
    const root = await tempDir();
    const target = path.join(root, 'serve', 'model');
    const a = await fakeRun(root, 'a', 3);
    const b = await fakeRun(root, 'b', 4);
    const worse = await fakeRun(root, 'worse', 2);

    const r1 = await promoteRun(a.dir, { parity: false, target });
    expect(r1.promoted).toBe(true);
    expect(await servedRun(target)).toBe('a');
    const card = (await readModelCard(target))!;
    expect(card).toMatchObject({ runId: 'a', arch: 'tinyvgg', mode: 'scratch', labels, preprocess: 'rescale01', imgSize: 32, inputShape: [32, 32, 3], fit: 'cover' });
    expect(card.metrics).toMatchObject({ n: 4, correct: 3, accuracy: 0.75 });
    expect(card.metrics.accuracyInterval.low).toBeLessThan(0.75);
    expect(card.data.fingerprint).toBe('fp-a');
    expect(card.backend.evaluation).toBe('cpu');
    expect(await fs.readFile(path.join(target, 'weights.bin'))).toHaveLength(100);

    const r2 = await promoteRun(b.dir, { parity: false, target });
    expect(r2.promoted).toBe(true);
    expect(r2.previous?.runId).toBe('a');
    expect(await servedRun(target)).toBe('b');
    expect(await servedRun(`${target}.prev`)).toBe('a');

    const r3 = await promoteRun(worse.dir, { parity: false, target });
    expect(r3.promoted).toBe(false);
    expect(r3.message).toMatch(/worse than the model in service b/);
    expect(r3.message).toMatch(/50\.0%.*100\.0%/);
    expect(await servedRun(target)).toBe('b');

    const r4 = await promoteRun(worse.dir, { parity: false, target, force: true });
    expect(r4.promoted).toBe(true);
    expect(r4.card?.forced).toBe(true);
    expect(await servedRun(target)).toBe('worse');
    expect(await servedRun(`${target}.prev`)).toBe('b');

    const rb = await rollback({ target });
    expect(rb.card?.runId).toBe('b');
    expect(await servedRun(target)).toBe('b');
    expect(await servedRun(`${target}.prev`)).toBe('worse');
    await rollback({ target }); // a second rollback undoes the first
    expect(await servedRun(target)).toBe('worse');
    expect(await leftovers(path.dirname(target))).toEqual([]);
  });

  it('does not rank a run against a served model trained and tested on other data, unless forced', async () => {
    const root = await tempDir();
    const target = path.join(root, 'model');
    const a = await fakeRun(root, 'a', 2);
    const other = await fakeRun(root, 'other', 4, { dataRoot: '/other-data' });
    await promoteRun(a.dir, { parity: false, target });
    const r = await promoteRun(other.dir, { parity: false, target });
    expect(r.promoted).toBe(false);
    expect(r.message).toMatch(/\/data.*\/other-data.*not comparable/);
    expect(await servedRun(target)).toBe('a');
    expect((await promoteRun(other.dir, { parity: false, target, force: true })).promoted).toBe(true);
    expect(await servedRun(target)).toBe('other');
  });

  it('never promotes on an evaluation of another split or dataset, even forced', async () => {
    const root = await tempDir();
    const target = path.join(root, 'model');
    const a = await fakeRun(root, 'a', 2);
    await promoteRun(a.dir, { parity: false, target });
    const b = await fakeRun(root, 'b', 4);
    // An evaluation.json written by older code for the train split: refused with the way out.
    await fs.writeFile(path.join(b.dir, EVALUATION_JSON), JSON.stringify(otherScope(b.ev, { split: 'train' })));
    await expect(promoteRun(b.dir, { parity: false, target, force: true })).rejects.toThrow(/evaluation\.json is an evaluation of the 'train' split of \/data .*pnpm evaluate --run/);
    await expect(promoteEvaluated(b.dir, otherScope(b.ev, { dataRoot: '/elsewhere' }), { parity: false, target, force: true })).rejects.toThrow(
      /cannot promote .* on an evaluation of the 'test' split of \/elsewhere \(not its training dataset\).*own test split of \/data/,
    );
    // Claims to be of the training data but is not the dataset in config.json.
    const lying = { ...b.ev, data: { ...b.ev.data, root: '/elsewhere' } };
    await expect(promoteEvaluated(b.dir, lying, { parity: false, target, force: true })).rejects.toThrow(/cannot promote/);
    expect(await servedRun(target)).toBe('a');
    expect(await leftovers(root)).toEqual([]);
  });

  it('does nothing when the same run is already in service', async () => {
    const root = await tempDir();
    const target = path.join(root, 'model');
    const a = await fakeRun(root, 'a', 3);
    await promoteRun(a.dir, { parity: false, target });
    const again = await promoteRun(a.dir, { parity: false, target });
    expect(again.promoted).toBe(false);
    expect(again.message).toMatch(/already in service/);
  });

  it('a copy that fails half way leaves the served model untouched and no temp folder', async () => {
    const root = await tempDir();
    const target = path.join(root, 'model');
    const a = await fakeRun(root, 'a', 3);
    const b = await fakeRun(root, 'b', 4);
    await promoteRun(a.dir, { parity: false, target });
    execFileSync('mkfifo', [path.join(b.dir, 'model', 'zz-pipe')]); // fs.cp refuses FIFOs
    await expect(promoteRun(b.dir, { parity: false, target })).rejects.toThrow();
    expect(await servedRun(target)).toBe('a');
    expect(await leftovers(root)).toEqual([]);
    await expect(promoteRun(path.join(root, 'nope'), { parity: false, target })).rejects.toThrow(/evaluation\.json/);
  });

  it('rollback without a previous model is a clear error', async () => {
    const root = await tempDir();
    await expect(rollback({ target: path.join(root, 'model') })).rejects.toThrow(/nothing to roll back to/);
  });

  it('promoteBest applies the rule: balanced accuracy, then log loss, then model size', async () => {
    const root = await tempDir();
    // Both 3/4 right; log loss (3·-ln c - ln(1-c))/4 is 0.568 for c=0.7 and 0.648 for c=0.55.
    const lowLoss = await fakeRun(root, 'confident', 3, { confident: 0.7 });
    const highLoss = await fakeRun(root, 'hesitant', 3, { confident: 0.55 });
    expect(lowLoss.ev.balancedAccuracy).toBe(highLoss.ev.balancedAccuracy);
    expect(lowLoss.ev.logLoss).toBeLessThan(highLoss.ev.logLoss);
    const worse = await fakeRun(root, 'worse', 2, { confident: 0.99 });
    const asRun = (r: { dir: string; ev: Evaluation }): ReportRun => ({ runId: r.ev.runId, runDir: r.dir, status: 'ok', evaluation: r.ev });
    const res = await promoteBest([asRun(worse), asRun(highLoss), asRun(lowLoss), { runId: 'bad', status: 'bad', reason: 'x' }], { parity: false, target: path.join(root, 'm1') });
    expect(res.card?.runId).toBe('confident');

    const small = await fakeRun(root, 'small', 3, { confident: 0.9 });
    const big = await fakeRun(root, 'big', 3, { confident: 0.9 });
    small.ev.modelBytes = 10;
    big.ev.modelBytes = 20;
    const res2 = await promoteBest([asRun(big), asRun(small)], { parity: false, target: path.join(root, 'm2') });
    expect(res2.card?.runId).toBe('small');

    const none = await promoteBest([{ runId: 'bad', status: 'bad' }], { parity: false, target: path.join(root, 'm3') });
    expect(none.promoted).toBe(false);

    // Runs measured on different test sets are not ranked against each other.
    big.ev.data = { ...big.ev.data, root: '/other-data' };
    const mixed = await promoteBest([asRun(big), asRun(small)], { parity: false, target: path.join(root, 'm4') });
    expect(mixed.promoted).toBe(false);
    expect(mixed.message).toMatch(/2 different test sets/);
  });

  it("promoteBest considers only evaluations of each run's own test split", async () => {
    const root = await tempDir();
    const good = await fakeRun(root, 'good', 3);
    const better = await fakeRun(root, 'better', 4);
    const asRun = (runId: string, dir: string, evaluation: Evaluation): ReportRun => ({ runId, runDir: dir, status: 'ok', evaluation });
    // 'better' evaluated on its train split (or on another dataset) would win, but must not count.
    const onTrain = asRun('better', better.dir, otherScope(better.ev, { split: 'train' }));
    const res = await promoteBest([onTrain, asRun('good', good.dir, good.ev)], { parity: false, target: path.join(root, 'm1') });
    expect(res.card?.runId).toBe('good');
    expect(res.card?.metrics.split).toBe('test');
    expect(res.message).toMatch(/1 run\(s\) evaluated on another split or dataset, or on their dataset changed since training, were not considered/);

    const elsewhere = asRun('good', good.dir, otherScope(good.ev, { dataRoot: '/data-2' }));
    const none = await promoteBest([onTrain, elsewhere], { parity: false, target: path.join(root, 'm2') });
    expect(none.promoted).toBe(false);
    expect(none.message).toMatch(/none of the 2 evaluated run\(s\) was evaluated on its own test split/);
  });
});

// A real (tiny, untrained) model and a dataset of real JPEG files: promotion classifies a few test
// photos with the staged model and stores them beside it.
describe('promotion records parity', () => {
  it('writes parity.json and parity/<sha>.<ext> with the test photos, keeps every file of the model folder, and the record checks out', async () => {
    await initBackend('cpu', () => {});
    const root = await tempDir();
    const data = path.join(root, 'data');
    const colours: [number, number, number][] = [[200, 30, 30], [30, 200, 30], [30, 30, 200], [220, 220, 20], [10, 10, 10]];
    for (const [split, n] of [['train', 2], ['test', 5]] as const) {
      for (const [c, label] of labels.entries()) {
        for (let i = 0; i < n; i++) await writeJpeg(path.join(data, split, label, `${i}.jpg`), colours[(i + c) % colours.length]!, 40 + 8 * i + c, 30);
      }
    }
    const { dir } = await fakeRun(root, 'real', 3, { dataRoot: data });
    const modelDir = path.join(dir, 'model');
    await fs.rm(modelDir, { recursive: true });
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [32, 32, 3], filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }),
        tfl.layers.globalAveragePooling2d({}),
        tfl.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
      ],
    });
    await saveClassifier(model, { format: 'parts-classifier/1', arch: 'tinyvgg', mode: 'scratch', labels, imgSize: 32, fit: 'cover', preprocess: 'rescale01', outputActivation: 'softmax', runId: 'real' }, modelDir);
    model.dispose();
    // Files training may add to the model folder (out-of-distribution scorer) must travel too.
    await fs.writeFile(path.join(modelDir, 'ood.json'), '{"format":"test"}\n');
    await fs.writeFile(path.join(modelDir, 'ood-features.bin'), Buffer.from([1, 2, 3, 4]));

    const target = path.join(root, 'serve', 'model');
    const res = await promoteRun(dir, { target, parityPhotos: 4 });
    expect(res.promoted).toBe(true);
    for (const f of await fs.readdir(modelDir)) {
      expect(await fs.readFile(path.join(target, f)), f).toEqual(await fs.readFile(path.join(modelDir, f)));
    }

    const read = (await readParity(target))!;
    expect(read.record.backend).toBe('cpu');
    expect(read.record.labels).toEqual(labels);
    expect(read.record.entries).toHaveLength(4);
    // Both classes are covered, the smallest files of each first; each stored file is the photo's bytes under its own hash.
    expect(read.record.entries.map((e) => e.name).sort()).toEqual(['test/big/0.jpg', 'test/big/1.jpg', 'test/small/0.jpg', 'test/small/1.jpg']);
    for (const e of read.record.entries) {
      const original = await fs.readFile(path.join(data, e.name));
      const stored = await fs.readFile(path.join(target, 'parity', e.file));
      expect(stored).toEqual(original);
      expect(e.sha256).toBe(createHash('sha256').update(original).digest('hex'));
      expect(e.file).toBe(`${e.sha256}.jpg`);
      expect(e.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
    expect((await readModelCard(target))!.parity).toEqual({ photos: 4, backend: 'cpu', tolerance: PARITY_TOLERANCE });

    const c = await loadClassifier(target);
    try {
      const check = await checkParityDir(c);
      expect(check).toMatchObject({ ok: true, photos: 4, backend: 'cpu', recordBackend: 'cpu' });
      expect(check.maxAbsDiff).toBeLessThanOrEqual(PARITY_TOLERANCE);
    } finally {
      disposeClassifier(c);
    }
    expect(await leftovers(path.dirname(target))).toEqual([]);
  });

  it('stops before touching the served folder when the test photos are gone', async () => {
    await initBackend('cpu', () => {});
    const root = await tempDir();
    const { dir } = await fakeRun(root, 'a', 3, { dataRoot: path.join(root, 'moved-away') });
    const target = path.join(root, 'model');
    await expect(promoteRun(dir, { target })).rejects.toThrow(/parity record needs the run's test photos in .*moved-away/);
    expect(await leftovers(root)).toEqual([]);
    await expect(fs.stat(target)).rejects.toThrow();
  });
});
