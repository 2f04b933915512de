// A run evaluated after photos were added to or removed from its training dataset: the evaluation
// says which splits changed, and it no longer counts as the run's own test split (promotion and the
// accuracy gate rely on that).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import { generateDemoDataset } from '@parts/data';
import { train } from '@parts/train';
import { evaluateRun } from '../src/evaluation';
import { isOwnTestEvaluation, readEvaluation } from '../src/evaluation-record';
import { tempDir } from './helpers';

let data: string;
let runDir: string;

beforeAll(async () => {
  await initBackend('wasm');
  const root = await tempDir('eval-changed-');
  data = path.join(root, 'demo');
  await generateDemoDataset(data, { seed: 6, trainPerClass: 6, testPerClass: 2, width: 64, height: 48 });
  runDir = (await train({ arch: 'tinyvgg', mode: 'scratch', data, out: path.join(root, 'runs'), imgSize: 16, epochs: 1, batchSize: 8, backend: 'wasm', quiet: true, seed: 1, valSplit: 0.3 })).runDir;
}, 120_000);

describe('evaluateRun on a dataset that changed since training', () => {
  it('is the run\'s own test split while the photos are the same', async () => {
    const ev = await evaluateRun(runDir, { robustness: 'off', gradcam: false });
    expect(ev.data.changed).toBeUndefined();
    expect(isOwnTestEvaluation(ev)).toBe(true);
  });

  it('names the changed split, logs it, and is no longer the run\'s own test split', async () => {
    const classes = (await fs.readdir(path.join(data, 'test'))).sort();
    const dir = path.join(data, 'test', classes[0]!);
    const first = (await fs.readdir(dir)).sort()[0]!;
    await fs.copyFile(path.join(dir, first), path.join(dir, `added-${first}`));
    const lines: string[] = [];
    const ev = await evaluateRun(runDir, { robustness: 'off', gradcam: false, log: (m) => lines.push(m) });
    expect(ev.data.changed).toEqual([`the test split has ${classes[0]} 3 photos now, the run had ${classes[0]} 2`]);
    expect(lines).toContain(`  dataset changed since training: ${ev.data.changed![0]}`);
    expect(isOwnTestEvaluation(ev)).toBe(false);
    // Written beside the run's own evaluation, which stays as it was but is refused while the change stands.
    expect(JSON.parse(await fs.readFile(path.join(runDir, 'evaluation-test-changed-since-training.json'), 'utf8')).data.changed).toEqual(ev.data.changed);
    expect(JSON.parse(await fs.readFile(path.join(runDir, 'evaluation.json'), 'utf8')).data.changed).toBeUndefined();
    await expect(readEvaluation(runDir)).rejects.toThrow(/changed since \(the test split has .* put the folder back as it was at training, or train a new run on it/);
  });

  it('finds a photo swapped for another of the same class (the same counts) by the dataset fingerprint', async () => {
    const classes = (await fs.readdir(path.join(data, 'test'))).sort();
    const dir = path.join(data, 'test', classes[0]!);
    const names = (await fs.readdir(dir)).sort();
    await fs.rm(path.join(dir, names.find((n) => n.startsWith('added-'))!));
    const ev0 = await evaluateRun(runDir, { robustness: 'off', gradcam: false });
    expect(ev0.data.changed).toBeUndefined();
    // Put back as it was: the run's own evaluation again, the changed one gone.
    expect((await readEvaluation(runDir)).evaluatedAt).toBe(ev0.evaluatedAt);
    await expect(fs.access(path.join(runDir, 'evaluation-test-changed-since-training.json'))).rejects.toThrow();
    // Another class's photo copied in, one of this class's removed: 2 photos as before.
    const other = path.join(data, 'test', classes[1]!);
    const stranger = (await fs.readdir(other)).sort()[0]!;
    await fs.copyFile(path.join(other, stranger), path.join(dir, `swapped-${stranger}`));
    await fs.rm(path.join(dir, names.filter((n) => !n.startsWith('added-'))[0]!));
    const ev = await evaluateRun(runDir, { robustness: 'off', gradcam: false });
    expect(ev.data.changed).toEqual(['the same number of photos per class, but not the photos or the splits the run had (the dataset fingerprint differs)']);
    expect(isOwnTestEvaluation(ev)).toBe(false);
  });
});

describe('a cross-validation fold run', () => {
  it('is compared with its own fold, not reported as changed', async () => {
    const root = await tempDir('eval-fold-');
    const d = path.join(root, 'demo');
    await generateDemoDataset(d, { seed: 8, trainPerClass: 6, testPerClass: 2, width: 64, height: 48 });
    const fold = (await train({ arch: 'tinyvgg', mode: 'scratch', data: d, out: path.join(root, 'runs'), imgSize: 16, epochs: 1, batchSize: 8, backend: 'wasm', quiet: true, seed: 1, fold: { k: 2, folds: 3 } })).runDir;
    expect((await evaluateRun(fold, { robustness: 'off', gradcam: false })).data.changed).toBeUndefined();
    // A photo added to the train folder changes the fold's photos.
    const cls = (await fs.readdir(path.join(d, 'train'))).sort()[0]!;
    const first = (await fs.readdir(path.join(d, 'train', cls))).sort()[0]!;
    await fs.copyFile(path.join(d, 'train', cls, first), path.join(d, 'train', cls, `added-${first}`));
    expect((await evaluateRun(fold, { robustness: 'off', gradcam: false })).data.changed?.length).toBeGreaterThan(0);
  }, 120_000);
});
