// The recipe chosen from the data: the rules on profiles (given options win, epochs from the step
// budget, input size and silhouette by kind) and the profile of the real photo sets (objects on paper
// vs a frame-filling casting vs a steel texture), read from ../shared/datasets when it is there.
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listDataset } from '@parts/data';
import { repoRoot } from '@parts/cli';
import { applyRecipe, chooseRecipe, FRAME_FILLING_CANDIDATE_SIZE, FRAME_FILLING_MAX_EPOCHS, MIN_EPOCHS, profileTrainingSplit, type DataProfile, type RecipeInputs } from '../src/data-recipe';
import { resolveTrainOptions } from '../src/options';
import { train } from '../src/train';
import { readRunConfig } from '../src/run-folder';
import { demoWorkspace } from './fixtures';

const profile = (over: Partial<DataProfile>): DataProfile => ({
  classes: ['a', 'b'],
  perClass: [67, 67],
  photos: 134,
  sampled: 48,
  resolution: { width: 640, height: 480 },
  kind: 'object',
  kindReason: 'one dark object',
  ...over,
});
const recipeDefaults = (): RecipeInputs => {
  const r = resolveTrainOptions({ data: '/tmp/data' }, '/tmp/runs');
  return { imgSize: r.imgSize, augment: r.augment, epochs: r.epochs, warmupEpochs: r.warmupEpochs, silhouette: r.silhouette, lightNorm: r.lightNorm, batchSize: r.batchSize, steps: r.steps, mode: r.mode };
};
const value = (choices: ReturnType<typeof chooseRecipe>, setting: string) => choices.find((c) => c.setting === setting);

describe('chooseRecipe', () => {
  it('leaves a small set of objects on paper with the architecture recipe, the paper as white (bolts-nuts: 134 photos)', () => {
    const o = recipeDefaults();
    expect(o.lightNorm).toBe('none');
    const choices = chooseRecipe(profile({}), o, new Set());
    expect(applyRecipe(o, choices)).toEqual({ ...o, lightNorm: 'paper' });
    expect(value(choices, 'lightNorm')!.reason).toMatch(/^one object on a plain background: the paper is each photo's white reference/);
    expect(value(choices, 'epochs')!.reason).toMatch(/9 batches of 16 per epoch.*2400 optimizer steps gives 267 epochs, at most the recipe's 40/);
    expect(choices.every((c) => !c.given && c.reason.length > 0)).toBe(true);
  });

  it('gives a larger set fewer epochs (by steps) and scales the warm-up with them', () => {
    const o = recipeDefaults();
    const applied = applyRecipe(o, chooseRecipe(profile({ photos: 1920, perClass: [320, 320, 320, 320, 320, 320] }), o, new Set()));
    expect(applied.epochs).toBe(2400 / 120); // 120 batches per epoch
    expect(applied.warmupEpochs).toBe(2); // 3 of 40 epochs -> 1.5 of 20, rounded
    // neu's 960 training photos keep the recipe's 40 epochs.
    expect(applyRecipe(o, chooseRecipe(profile({ photos: 960 }), o, new Set())).epochs).toBe(40);
    const huge = applyRecipe(o, chooseRecipe(profile({ photos: 50_000 }), o, new Set()));
    expect(huge.epochs).toBe(MIN_EPOCHS);
    expect(applyRecipe({ ...o, steps: 600 }, chooseRecipe(profile({ photos: 960 }), { ...o, steps: 600 }, new Set(['steps']))).epochs).toBe(10);
  });

  it('lets the step budget give a small set of frame-filling photos more epochs than objects get, up to its own cap', () => {
    const o = recipeDefaults();
    const filling = (photos: number) => profile({ kind: 'frame-filling', photos, resolution: { width: 300, height: 300 } });
    // casting's 100-per-class subset: 160 photos, 10 batches, the budget's 240 epochs.
    expect(o).toMatchObject({ epochs: 40, warmupEpochs: 3, steps: 2400, batchSize: 16 });
    expect(applyRecipe(o, chooseRecipe(filling(160), o, new Set()))).toMatchObject({ epochs: 240, warmupEpochs: 18 });
    // Half of that: 5 batches, 480 epochs from the budget, capped.
    const tiny = chooseRecipe(filling(80), o, new Set());
    expect(FRAME_FILLING_MAX_EPOCHS).toBeGreaterThan(o.epochs);
    expect(applyRecipe(o, tiny).epochs).toBe(FRAME_FILLING_MAX_EPOCHS);
    expect(value(tiny, 'epochs')!.reason).toMatch(new RegExp(`gives 480 epochs, at most ${FRAME_FILLING_MAX_EPOCHS}: on a frame-filling part or texture .*cross-validated better`));
    // Under the cap the budget alone decides; the same number of objects keeps the recipe's 40.
    const mid = chooseRecipe(filling(480), o, new Set());
    expect(applyRecipe(o, mid)).toMatchObject({ epochs: 80, warmupEpochs: 6 });
    expect(value(mid, 'epochs')!.reason).toMatch(/gives 80 epochs, more than the recipe's 40: on a frame-filling part or texture up to 240 cross-validated better/);
    // The CI gate's subsets: --steps 150 on 160 photos gives 15 epochs, as before.
    expect(applyRecipe({ ...o, steps: 150 }, chooseRecipe(filling(160), { ...o, steps: 150 }, new Set(['steps']))).epochs).toBe(15);
    expect(applyRecipe(o, chooseRecipe(profile({ photos: 480 }), o, new Set())).epochs).toBe(o.epochs);
    // neu's 960 training photos and the whole casting split get what they got before.
    expect(applyRecipe(o, chooseRecipe(filling(960), o, new Set())).epochs).toBe(40);
    expect(applyRecipe(o, chooseRecipe(filling(5306), o, new Set())).epochs).toBe(8);
    // A pretrained base in fine-tuning keeps its recipe's cap, and --epochs still wins.
    expect(applyRecipe(o, chooseRecipe(filling(160), { ...o, mode: 'finetune' }, new Set())).epochs).toBe(o.epochs);
    expect(applyRecipe({ ...o, epochs: 7 }, chooseRecipe(filling(160), { ...o, epochs: 7 }, new Set(['epochs']))).epochs).toBe(7);
  });

  it('turns the silhouette part off for frame-filling photos and keeps the size and augmentation cross-validation chose', () => {
    const o = recipeDefaults();
    const c = chooseRecipe(profile({ kind: 'frame-filling', resolution: { width: 300, height: 300 } }), o, new Set());
    expect(applyRecipe(o, c)).toMatchObject({ imgSize: o.imgSize, silhouette: false, augment: 'texture', lightNorm: 'none' });
    expect(value(c, 'augment')!.reason).toContain('cross-validated better on neu and on par on casting');
    expect(value(c, 'imgSize')!.reason).toContain(`${FRAME_FILLING_CANDIDATE_SIZE} px cross-validated worse`);
    expect(value(c, 'silhouette')!.reason).toMatch(/^no silhouette to score/);
    expect(value(c, 'lightNorm')!.reason).toMatch(/no paper to take as white/);
  });

  it('keeps every option given explicitly and says so', () => {
    const o = { ...recipeDefaults(), imgSize: 96, epochs: 7, silhouette: true, augment: 'none' };
    const c = chooseRecipe(profile({ kind: 'frame-filling', photos: 5000 }), o, new Set(['imgSize', 'epochs', 'silhouette', 'augment']));
    expect(applyRecipe(o, c)).toEqual(o);
    // --light-norm none on objects on paper stays none.
    const lamps = chooseRecipe(profile({}), o, new Set(['lightNorm']));
    expect(applyRecipe(o, lamps).lightNorm).toBe('none');
    expect(value(lamps, 'lightNorm')).toMatchObject({ given: true, reason: 'given (--light-norm)' });
    for (const s of ['imgSize', 'epochs', 'silhouette', 'augment']) expect(value(c, s)).toMatchObject({ given: true, reason: expect.stringMatching(/^given \(--/) });
  });
});

const shared = path.resolve(repoRoot(), '../shared/datasets');
describe.each(['parts', 'bolts-nuts', 'casting', 'neu'].map((d) => [d, path.join(shared, d)] as const))('profileTrainingSplit on %s', (name, dir) => {
  it.skipIf(!existsSync(dir))('tells objects on paper from frame-filling parts and textures', async () => {
    const index = await listDataset(dir, { groupThreshold: 0 });
    const p = await profileTrainingSplit(index.splits.train, index.classes, { imgSize: 128, fit: 'contain', seed: 42 });
    expect(p.sampled).toBe(Math.min(48, index.splits.train.length));
    expect(p.perClass.reduce((a, b) => a + b, 0)).toBe(index.splits.train.length);
    expect(p.kind).toBe(name === 'bolts-nuts' || name === 'parts' ? 'object' : 'frame-filling');
    expect(p.resolution).toEqual(name === 'bolts-nuts' || name === 'parts' ? { width: 640, height: 480 } : name === 'casting' ? { width: 300, height: 300 } : { width: 200, height: 200 });
    // Seeded: the same sample, the same profile.
    expect(await profileTrainingSplit(index.splits.train, index.classes, { imgSize: 128, fit: 'contain', seed: 42 })).toEqual(p);
  }, 120_000);
});

describe('train() with the data recipe', () => {
  it('records each choice and its reason in config.json and the log; given options stay; --no-data-recipe chooses nothing', async () => {
    const { data, out } = await demoWorkspace('data-recipe-', { seed: 5, trainPerClass: 6, testPerClass: 2, width: 160, height: 120 });
    const lines: string[] = [];
    // 2 steps requested: the fewest epochs (MIN_EPOCHS) from the step budget; the size is given, and
    // the model is the mean of the last 2 epochs' weights.
    const run = await train({ data, out, imgSize: 16, steps: 2, batchSize: 8, averageEpochs: 2, backend: 'wasm', seed: 3, log: (m) => lines.push(m) });
    const config = await readRunConfig(run.runDir);
    const recipe = (config as { recipe?: { profile: { kind: string }; choices: { setting: string; value: unknown; given: boolean; reason: string }[] } }).recipe!;
    expect(recipe.profile.kind).toBe('object');
    expect(recipe.choices.find((c) => c.setting === 'imgSize')).toMatchObject({ value: 16, given: true });
    expect(recipe.choices.find((c) => c.setting === 'epochs')).toMatchObject({ value: MIN_EPOCHS, given: false });
    expect(config!.options).toMatchObject({ epochs: MIN_EPOCHS, imgSize: 16, silhouette: true, lightNorm: 'paper' });
    expect(JSON.parse(await fs.readFile(path.join(run.runDir, 'model', 'classifier.json'), 'utf8'))).toMatchObject({ lightNorm: 'paper' });
    expect(run.history.epochs.length).toBe(MIN_EPOCHS);
    // The model is the mean of the last 2 epochs, batch norm recomputed; the best epoch's val score is kept beside.
    const n = 2;
    expect(config!.options).toMatchObject({ averageEpochs: n });
    expect(run.metrics.averaged!.bestEpochVal).toMatchObject({ n: run.metrics.val!.n });
    expect(run.metrics.averaged).toMatchObject({ epochs: [MIN_EPOCHS - n + 1, MIN_EPOCHS], count: n });
    expect(run.metrics.averaged!.batchNormLayers).toBeGreaterThan(0);
    expect(lines.some((l) => l.startsWith(`weights: mean of epochs ${MIN_EPOCHS - n + 1}-${MIN_EPOCHS} (${n})`))).toBe(true);
    for (const c of recipe.choices) expect(lines).toContain(`recipe: ${c.setting} ${String(c.value)} — ${c.reason}`);
    const plain = await train({ data, out, imgSize: 16, epochs: 1, batchSize: 8, backend: 'wasm', seed: 3, dataRecipe: false, quiet: true });
    expect((await readRunConfig(plain.runDir) as { recipe?: unknown }).recipe).toBeNull();
    expect(plain.metrics.averaged).toBeUndefined();
  }, 120_000);
});
