// The recipe chosen from the data: before training, a seeded sample of the training split is looked at
// (photos per class, resolution, one object on a plain background or a frame-filling part / texture) and
// the parts of the recipe that depend on it are set: input size, augmentation preset, the number of
// epochs (from a budget of optimizer steps, so a larger set gets fewer epochs), its warm-up, and whether
// the OOD detector gets its silhouette part. Every choice carries its reason; train() writes them into
// the run's config.json (`recipe`) and logs one line each. An option given explicitly always wins and is
// recorded as given. The rules are fixed functions of the profile, no search: choosing between
// candidates per run would multiply the cost of every training.
//
// Why these rules:
// - Object or not: the silhouette measure (@parts/data silhouette.ts) and the OOD detector's own test
//   of it (segmentationProblem) — the photos show one dark object inside the frame on a lighter
//   background, or not (bolts-nuts and parts: objects; casting and neu: the largest dark region runs
//   off the frame).
// - Input size: an object's outline survives the architecture's small default size (PartsNet's 128 px
//   was measured on the bolts). On a frame-filling part or texture the label is in small detail (a
//   pinhole at a casting's rim, the grain of a steel surface), so a larger input was the candidate:
//   192 px cross-validated worse than 128 px on casting's training split (FRAME_FILLING_CV) at about
//   three times the cost per step on the CPU, so both kinds keep the architecture's size.
// - Augmentation: on objects the size-preserving preset (any turn, flips, small shifts, light; no zoom
//   or shear) keeps the label of a part seen from above, whose size is the label on the bolts. On
//   frame-filling parts and textures, the texture preset: turns by multiples of 90° and flips (an angle
//   in between fills the corners of a frame-filling photo with smeared edge pixels), shifts filled by
//   reflection, the same light; cross-validated against size-preserving (TEXTURE_AUGMENT_CV).
// - Epochs: what trains a network is the number of optimizer steps; a fixed number of epochs makes a set
//   ten times larger train ten times longer. epochs = ceil(steps / batches per epoch), at most the
//   recipe's epochs for objects (small sets of objects: unchanged) and at least MIN_EPOCHS; the
//   warm-up keeps its share. The default budget (--steps 2400): sets of objects up to ~960 training
//   photos keep the recipe's 40 epochs, neu's 960 get 40 too, the full casting split gets 8. 3-fold
//   cross-validation on neu's training split preferred the 40-epoch cap to the 24-25 epochs of the
//   1200 steps before (STEP_BUDGET_CV). The cap of 40 was set on the bolts (40 and 100 epochs
//   cross-validated alike there); a small set of frame-filling photos trained from scratch may take
//   up to FRAME_FILLING_MAX_EPOCHS, the whole budget for casting's 100-per-class subset
//   (FRAME_FILLING_EPOCHS_CV: it kept improving past 40 and 120). "Frame-filling" is the silhouette
//   measure finding no single object, so objects on a cluttered background get these epochs too.
// - Weights: the best epoch's (lowest validation loss), as the architecture's recipe has it. The mean
//   of the last quarter of the epochs with batch-norm statistics recomputed (--average-epochs) was
//   the candidate, because on these sets the validation accuracy swings between neighbouring epochs
//   (casting's subset: 50% to 95% and back): AVERAGED_WEIGHTS_MEASURED says why it is not chosen.
// - Silhouette OOD part: only where there is a silhouette.
// - Light normalisation: on objects on a plain background the paper is every photo's white reference
//   (the part covers under half of the frame in the median photo, SILHOUETTE_MAX_MEDIAN_AREA, so the
//   per-channel median is the paper; in a close-up it is the part, clamped gain), and dividing by
//   it makes a brighter, dimmer, warmer or colder lamp give the same input (docs/ood.md measured the
//   lamps with and without it: without it every lit `parts` photo was answered "unknown"). Frame-filling
//   parts and textures have no paper: their median is the part itself, whose brightness can be the label.
import { promises as fs } from 'node:fs';
import { decodeImage, decodePhoto, makeRng, measureSilhouette, shuffled, type FitPolicy, type Sample, type SilhouetteShape } from '@parts/data';
import { segmentationProblem, silhouetteEvidence } from '@parts/models';

/** Photos sampled (stratified, seeded) to profile the training split. */
export const PROFILE_SAMPLE = 48;
/** The larger input tried for frame-filling parts and textures, and what cross-validation said of it. */
export const FRAME_FILLING_CANDIDATE_SIZE = 192;
export const FRAME_FILLING_CV = '2 folds of its 100-per-class training subset, seed 42, 15 epochs: 175/200 at 192 px vs 185/200 at 128 px';
/** The comparison that kept the best epoch's weights rather than the mean of the last quarter (--average-epochs 10 of 40). */
export const AVERAGED_WEIGHTS_MEASURED =
  "casting's 100-per-class training subset, seed 42, 2-fold CV: 193/200 averaged vs 194/200 best epoch (chosen on the fold); " +
  "its own validation split 39/40 vs 38/40; confirmed on the test splits: casting 296/325 vs 303/325, neu's 50-per-class subset 268/300 vs 279/300 " +
  '(statistics recomputed class by class; in a shuffled order, measured afterwards on the saved models: casting 295/325, neu 286/300)';
/** The comparison that set the default step budget (--steps). */
export const STEP_BUDGET_CV =
  "neu's training split, 3 folds, seed 42: --steps 2400 (the recipe's cap of 40 epochs a fold, 1,960-2,040 steps) 1154/1200 = 96.2% (folds 97.4, 94.8, 96.1%) " +
  'vs --steps 1200 (24-25 epochs) 1121/1200 = 93.4% (92.2, 94.1, 94.1%); any budget from about 2,040 steps gives those folds 40 epochs, 2400 is the round number that keeps ~960 photos at 40';
/** The comparison that chose the texture preset for frame-filling parts and textures. */
export const TEXTURE_AUGMENT_CV =
  "neu's training split, 3 folds, seed 42: 1189/1200 = 99.1% (folds 99.5, 98.5, 99.2%) vs 1154/1200 = 96.2% (97.4, 94.8, 96.1%); " +
  "casting's 100-per-class training subset, 2 folds, seed 42: 192/200 vs 194/200 (validation loss 0.149 and 0.156 vs 0.174 and 0.162)";
/** Fewest epochs the step budget leaves (each photo seen a few times, also on very large sets). */
export const MIN_EPOCHS = 5;
/**
 * Most epochs the step budget gives a small set of frame-filling parts or textures from scratch, where
 * the recipe's own epochs (40, set on the bolts, where 40 and 100 cross-validated alike) are the cap
 * for objects. At the default budget it only bounds the epochs of very small sets (under 160 photos
 * at batch 16): their epochs, each of a batch or a few, each end with a validation pass.
 */
export const FRAME_FILLING_MAX_EPOCHS = 240;
/** The comparison that raised the epoch cap of frame-filling parts and textures. */
export const FRAME_FILLING_EPOCHS_CV =
  "casting's 100-per-class training subset, 4 folds, seed 42: 240 epochs 196/200 (validation loss 0.087) vs 120 epochs 195/200 (0.112) vs 40 epochs 191/200 (0.182); " +
  "seed 7: 120 epochs 196/200 (0.114) vs 40 epochs 193/200 (0.159); neu's 50-per-class training subset, 4 folds, seed 42: 160 epochs 295/300 (0.141) vs 40 epochs 274/300 (0.307)";

/** The most epochs the step budget may give: the recipe's, or FRAME_FILLING_MAX_EPOCHS for frame-filling photos from scratch. */
export function maxEpochs(kind: DataKind, recipeEpochs: number, mode: string): number {
  return kind === 'frame-filling' && mode === 'scratch' ? Math.max(recipeEpochs, FRAME_FILLING_MAX_EPOCHS) : recipeEpochs;
}

export type DataKind = 'object' | 'frame-filling';

export interface DataProfile {
  classes: string[];
  /** Training photos per class (after the validation split). */
  perClass: number[];
  photos: number;
  /** Photos the resolution and the kind were measured on. */
  sampled: number;
  /** Median width and height of the sampled photos, as stored. */
  resolution: { width: number; height: number };
  kind: DataKind;
  /** The silhouette evidence behind `kind`, in words. */
  kindReason: string;
}

export type RecipeSetting = 'imgSize' | 'augment' | 'epochs' | 'warmupEpochs' | 'silhouette' | 'lightNorm';

export interface RecipeChoice {
  setting: RecipeSetting;
  value: number | string | boolean;
  /** true: given explicitly (the value is the given one, not the data's choice). */
  given: boolean;
  reason: string;
}

export interface DataRecipe {
  profile: DataProfile;
  choices: RecipeChoice[];
}

/** The options the rules read and may replace. */
export interface RecipeInputs {
  imgSize: number;
  augment: string;
  epochs: number;
  warmupEpochs: number;
  silhouette: boolean;
  lightNorm: string;
  batchSize: number;
  /** Optimizer-step budget that sets the epochs when --epochs is not given. */
  steps: number;
  mode: string;
}

/**
 * Profiles the training split: photos per class, and on a stratified seeded sample of at most
 * PROFILE_SAMPLE photos the stored resolution and the silhouette of each photo decoded as the model
 * would see it (`imgSize`, `fit`).
 */
export async function profileTrainingSplit(
  train: readonly Sample[],
  classes: readonly string[],
  opts: { imgSize: number; fit: FitPolicy; seed: number },
): Promise<DataProfile> {
  if (train.length === 0) throw new Error('data recipe: the training split has no photos');
  const perClass = classes.map((_, c) => train.filter((s) => s.label === c).length);
  const rng = makeRng(`${opts.seed}:data-recipe`);
  // Round-robin over the classes' shuffled photos: every class is represented in the sample.
  const queues = classes.map((_, c) => shuffled(train.filter((s) => s.label === c).sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0)), rng));
  const sample: Sample[] = [];
  for (let i = 0; sample.length < Math.min(PROFILE_SAMPLE, train.length); i++) {
    for (const q of queues) if (i < q.length && sample.length < PROFILE_SAMPLE) sample.push(q[i]);
  }
  const widths: number[] = [];
  const heights: number[] = [];
  const shapes: (SilhouetteShape | null)[] = [];
  for (const s of sample) {
    const photo = await decodePhoto(await fs.readFile(s.file), s.file);
    widths.push(photo.width);
    heights.push(photo.height);
    shapes.push(measureSilhouette(await decodeImage(s.file, { size: opts.imgSize, fit: opts.fit })).shape);
  }
  const problem = segmentationProblem(shapes);
  return {
    classes: [...classes],
    perClass,
    photos: train.length,
    sampled: sample.length,
    resolution: { width: median(widths), height: median(heights) },
    kind: problem ? 'frame-filling' : 'object',
    kindReason: problem ?? silhouetteEvidence(shapes),
  };
}

/**
 * The recipe's choices for a profile. `given` names the options set explicitly: they keep their
 * value (recorded as given). Pure: the same profile and options give the same choices.
 */
export function chooseRecipe(profile: DataProfile, o: RecipeInputs, given: ReadonlySet<string>): RecipeChoice[] {
  const choices: RecipeChoice[] = [];
  const kept = (setting: RecipeSetting, value: RecipeChoice['value'], flag: string) =>
    choices.push({ setting, value, given: true, reason: `given (${flag})` });
  const objectText = profile.kind === 'object' ? 'one object on a plain background' : 'a frame-filling part or texture';

  if (given.has('imgSize')) kept('imgSize', o.imgSize, '--img-size');
  else if (o.mode !== 'scratch') choices.push({ setting: 'imgSize', value: o.imgSize, given: false, reason: `the pretrained base's input size (${o.mode})` });
  else if (profile.kind === 'object') {
    choices.push({ setting: 'imgSize', value: o.imgSize, given: false, reason: `${objectText}: its outline survives the architecture's ${o.imgSize} px` });
  } else {
    choices.push({
      setting: 'imgSize',
      value: o.imgSize,
      given: false,
      reason:
        `${objectText} (median photo ${profile.resolution.width}x${profile.resolution.height}): the architecture's ${o.imgSize} px; ` +
        `${FRAME_FILLING_CANDIDATE_SIZE} px cross-validated worse on casting (${FRAME_FILLING_CV}) at about 3x the cost per step`,
    });
  }

  if (given.has('augment')) kept('augment', o.augment, '--augment');
  else if (o.mode !== 'scratch') choices.push({ setting: 'augment', value: o.augment, given: false, reason: `the recipe of ${o.mode} mode` });
  else if (profile.kind === 'object') {
    choices.push({ setting: 'augment', value: 'size-preserving', given: false, reason: `${objectText}: turns and flips keep a part's label, zooming would change its size (the label between sizes)` });
  } else {
    choices.push({
      setting: 'augment',
      value: 'texture',
      given: false,
      reason: `${objectText}: turns by 90° and flips keep its label and every pixel, no zoom keeps the scale of its detail; against size-preserving (any angle, edge fill) cross-validated better on neu and on par on casting: ${TEXTURE_AUGMENT_CV}`,
    });
  }

  const batches = Math.ceil(profile.photos / o.batchSize);
  if (given.has('epochs')) {
    kept('epochs', o.epochs, '--epochs');
    if (given.has('warmupEpochs')) kept('warmupEpochs', o.warmupEpochs, '--warmup-epochs');
  } else {
    const cap = maxEpochs(profile.kind, o.epochs, o.mode);
    const fromSteps = Math.ceil(o.steps / batches);
    const epochs = Math.max(Math.min(MIN_EPOCHS, cap), Math.min(cap, fromSteps));
    // Past the recipe's epochs (frame-filling photos only), why.
    const why = epochs > o.epochs ? `: on a frame-filling part or texture up to ${cap} cross-validated better (${FRAME_FILLING_EPOCHS_CV})` : '';
    const bound =
      epochs === cap && fromSteps >= cap
        ? cap === o.epochs ? `, at most the recipe's ${cap}` : `, at most ${cap}${why}`
        : epochs === MIN_EPOCHS
          ? `, at least ${MIN_EPOCHS}`
          : why && `, more than the recipe's ${o.epochs}${why}`;
    choices.push({
      setting: 'epochs',
      value: epochs,
      given: false,
      reason:
        `${profile.photos} training photos = ${batches} batches of ${o.batchSize} per epoch; ${given.has('steps') ? '--steps' : 'the budget of'} ${o.steps} optimizer steps gives ${fromSteps} epochs` +
        `${bound} (${epochs * batches} steps)`,
    });
    if (given.has('warmupEpochs')) kept('warmupEpochs', o.warmupEpochs, '--warmup-epochs');
    else if (o.warmupEpochs > 0 && epochs !== o.epochs) {
      const warmup = Math.max(1, Math.round((o.warmupEpochs * epochs) / o.epochs));
      choices.push({ setting: 'warmupEpochs', value: warmup, given: false, reason: `the recipe's warm-up share (${o.warmupEpochs} of ${o.epochs} epochs) of ${epochs} epochs` });
    }
  }

  if (given.has('silhouette')) kept('silhouette', o.silhouette, o.silhouette ? '--silhouette' : '--no-silhouette');
  else {
    const on = profile.kind === 'object';
    choices.push({ setting: 'silhouette', value: on && o.silhouette, given: false, reason: on ? `the photos show a silhouette: ${profile.kindReason}` : `no silhouette to score: ${profile.kindReason}` });
  }

  if (given.has('lightNorm')) kept('lightNorm', o.lightNorm, '--light-norm');
  else if (profile.kind === 'object') {
    choices.push({ setting: 'lightNorm', value: 'paper', given: false, reason: `${objectText}: the paper is each photo's white reference, so a brighter, dimmer or coloured lamp gives the same input` });
  } else {
    choices.push({ setting: 'lightNorm', value: o.lightNorm, given: false, reason: `${objectText}: no paper to take as white, the median is the part or texture itself (its brightness can be the label)` });
  }
  return choices;
}

/** The options with the data's (not given) choices applied. */
export function applyRecipe<T extends Partial<Record<RecipeSetting, unknown>>>(o: T, choices: readonly RecipeChoice[]): T {
  const out = { ...o } as Record<string, unknown>;
  for (const c of choices) if (!c.given) out[c.setting] = c.value;
  return out as T;
}

/** One log line per choice. */
export function formatRecipe(r: DataRecipe): string[] {
  const p = r.profile;
  return [
    `recipe from the data: ${p.photos} training photos (${p.classes.map((c, i) => `${c} ${p.perClass[i]}`).join(', ')}), median ${p.resolution.width}x${p.resolution.height} over ${p.sampled} sampled, ${p.kind}`,
    ...r.choices.map((c) => `recipe: ${c.setting} ${String(c.value)} — ${c.reason}`),
  ];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}
