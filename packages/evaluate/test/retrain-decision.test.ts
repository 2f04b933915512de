import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildDatasetVersion } from '@parts/data';
import { answerIsRight, compareSet, decidePromotion, recipeOf, retrain, type PhotoAnswer } from '../src/retrain';
import { promoteRun } from '../src/promote';
import { fakeRun, tempDir, writeJpeg } from './helpers';

/** n photos of `truth`; the first `cur` answered right by the model in service, the first `cand` by the candidate. */
function photos(truth: string | null, n: number, cur: number, cand: number, reviewed = false): PhotoAnswer[] {
  return Array.from({ length: n }, (_, i) => ({
    file: `/p/${truth}-${i}.jpg`,
    truth,
    reviewed,
    current: null,
    candidate: null,
    currentRight: i < cur,
    candidateRight: i < cand,
  }));
}

describe('what counts as a right answer', () => {
  it('is the class for a known class, and "unknown" for a class the model lacks or a known unknown', () => {
    const old = ['big', 'small'];
    const cand = ['big', 'nut', 'small'];
    expect(answerIsRight('big', 'big', old)).toBe(true);
    expect(answerIsRight('big', null, old)).toBe(false); // a known class answered unknown is a miss
    expect(answerIsRight('big', 'small', old)).toBe(false);
    // The model in service cannot know `nut`: declining is right, calling it a bolt is wrong.
    expect(answerIsRight('nut', null, old)).toBe(true);
    expect(answerIsRight('nut', 'small', old)).toBe(false);
    // The candidate knows `nut`: only `nut` is right.
    expect(answerIsRight('nut', 'nut', cand)).toBe(true);
    expect(answerIsRight('nut', null, cand)).toBe(false);
    // Known unknowns: only rejection is right, for every model.
    expect(answerIsRight(null, null, cand)).toBe(true);
    expect(answerIsRight(null, 'big', cand)).toBe(false);
  });
});

describe('the promotion decision', () => {
  it('promotes a candidate at most one photo below on every set, and refuses otherwise with the reason', () => {
    const equal = compareSet('test', 'test split', [...photos('big', 10, 9, 9), ...photos('nut', 4, 4, 4)]);
    expect(equal.gate.pass).toBe(true);
    expect(equal.mcnemar).toMatchObject({ b: 0, c: 0, p: 1 });
    const oneBelow = compareSet('test', 'test split', photos('big', 10, 9, 8));
    expect(oneBelow.gate).toMatchObject({ pass: true, minCorrect: 8 });
    const twoBelow = compareSet('test', 'test split', photos('big', 10, 9, 7));
    expect(twoBelow.gate.pass).toBe(false);
    expect(twoBelow.mcnemar).toMatchObject({ b: 2, c: 0, method: 'exact binomial' });
    expect(twoBelow.current.interval.low).toBeLessThan(0.9);
    expect(twoBelow.perClass).toEqual([{ truth: 'big', n: 10, current: 9, candidate: 7 }]);

    expect(decidePromotion([oneBelow, compareSet('unknowns', 'unknowns', [])]).promote).toBe(true);
    const refused = decidePromotion([equal, compareSet('reviewed', 'reviewed photos', photos('big', 5, 5, 3, true))]);
    expect(refused.promote).toBe(false);
    expect(refused.reasons).toHaveLength(1);
    expect(refused.reasons[0]).toMatch(/^reviewed photos: the candidate answers 3\/5 right, the model in service 5\/5 \(at least 4 needed; McNemar p = 0\.500\)/);
    // A worse rejection of known unknowns alone refuses too.
    expect(decidePromotion([equal, compareSet('unknowns', 'unknowns', photos(null, 6, 6, 2))]).promote).toBe(false);
    expect(decidePromotion([compareSet('test', 'test', [])])).toEqual({ promote: false, reasons: ['no photos to compare the models on'] });
  });

  it("takes the served run's recipe, not where or on what it ran", () => {
    const r = recipeOf({
      arch: 'partsnet',
      options: { arch: 'partsnet', mode: 'scratch', epochs: 20, imgSize: 128, seed: 7, augment: 'size-preserving', weights: 'imagenet', data: '/old', out: '/runs', backend: 'webgpu', quiet: true } as never,
    });
    expect(r).toEqual({ arch: 'partsnet', mode: 'scratch', epochs: 20, imgSize: 128, seed: 7, augment: 'size-preserving', lightNorm: 'none' });
    // The light normalisation the served model was trained with, whatever the data recipe would choose now.
    expect(recipeOf({ options: { arch: 'partsnet', mode: 'scratch', lightNorm: 'paper', averageEpochs: 4 } as never })).toMatchObject({ lightNorm: 'paper', averageEpochs: 4 });
    expect(recipeOf({ options: { arch: 'vgg16', mode: 'finetune', weights: '/w.h5' } as never })).toMatchObject({ weights: '/w.h5' });
  });

  it('passes on the step budget, not the epochs the data recipe derived from it for the old dataset', () => {
    const options = { arch: 'partsnet', mode: 'scratch', epochs: 240, warmupEpochs: 18, steps: 2400, imgSize: 128, augment: 'texture' };
    const choice = (setting: string, value: number | string, given: boolean) => ({ setting, value, given, reason: given ? 'given' : 'the data' });
    const recipe = (...choices: ReturnType<typeof choice>[]) => ({ profile: {} as never, choices: choices as never });
    const fromData = recipeOf({ options: options as never, recipe: recipe(choice('epochs', 240, false), choice('warmupEpochs', 18, false), choice('augment', 'texture', false)) });
    expect(fromData).toEqual({ arch: 'partsnet', mode: 'scratch', steps: 2400, imgSize: 128, augment: 'texture', lightNorm: 'none' });
    // A warm-up given explicitly stays; epochs given explicitly stay with it.
    expect(recipeOf({ options: options as never, recipe: recipe(choice('epochs', 240, false), choice('warmupEpochs', 18, true)) })).toMatchObject({ steps: 2400, warmupEpochs: 18 });
    expect(recipeOf({ options: options as never, recipe: recipe(choice('epochs', 240, true)) })).toMatchObject({ epochs: 240, warmupEpochs: 18 });
    expect(recipeOf({ options: options as never, recipe: recipe(choice('epochs', 240, true)) }).steps).toBeUndefined();
    // Without a data recipe the epochs are the run's.
    expect(recipeOf({ options: options as never, recipe: null })).toMatchObject({ epochs: 240, warmupEpochs: 18 });
  });
});

describe('a retrain that fails', () => {
  it('leaves the served model and the dataset versions as they were', async () => {
    const root = await tempDir();
    const target = path.join(root, 'serve', 'model');
    const run = await fakeRun(root, 'served', 4);
    // A recipe training refuses (the error comes from training itself, after the version is chosen).
    await fs.writeFile(path.join(run.dir, 'config.json'), JSON.stringify({ runId: 'served', arch: 'partsnet', data: { root: '/data' }, options: { arch: 'partsnet', mode: 'scratch', epochs: 0 } }));
    await promoteRun(run.dir, { parity: false, target });
    const base = path.join(root, 'base');
    for (const split of ['train', 'test']) for (const [c, rgb] of [['big', [200, 10, 10]], ['small', [10, 10, 200]]] as const) await writeJpeg(path.join(base, split, c, 'a.jpg'), [...rgb]);
    const versions = path.join(root, 'versions');
    await buildDatasetVersion({ base, root: versions, reviewed: [] });
    const snapshot = async (dir: string): Promise<Record<string, string>> => {
      const out: Record<string, string> = {};
      for (const e of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
        if (e.isFile()) out[path.relative(dir, path.join(e.parentPath, e.name))] = (await fs.readFile(path.join(e.parentPath, e.name))).toString('base64');
      }
      return out;
    };
    const served = await snapshot(target);
    const vers = await snapshot(versions);
    await expect(retrain({ versionsRoot: versions, target, runsDir: path.join(root, 'runs2'), backend: 'cpu', log: () => {} })).rejects.toThrow(/--epochs must be an integer >= 1/);
    expect(await snapshot(target)).toEqual(served);
    expect(await snapshot(versions)).toEqual(vers);
    await expect(retrain({ versionsRoot: path.join(root, 'none'), target, log: () => {} })).rejects.toThrow(/no dataset version in .*none: build one first \(pnpm dataset build\)/);
  });
});
