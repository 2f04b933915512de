// `pnpm train`: dataset -> model -> fit loop -> run folder.
import path from 'node:path';
import seedrandom from 'seedrandom';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { initBackend, tuneWebGPUKernels, usedKernels, type BackendInfo } from '@parts/backend';
import { AUGMENT_PRESETS, checkDataset, datasetFingerprint, formatDatasetReport, listDataset, makeRng, type DatasetIndex, type SignatureCache } from '@parts/data';
import { repoRoot } from '@parts/cli';
import { buildClassifier, fuseBatchNormRelu, getArch, saveClassifier, type BuiltClassifier, type ClassifierMeta } from '@parts/models';
import { balancedClassWeights } from './loss';
import { applyFold } from './folds';
import { evaluateBatches, fitLoop, type Batch } from './fit-loop';
import { loadImageSet, makeBatch, shuffledIndices, type BatchSpec, type ImageSet } from './image-set';
import { resolveTrainOptions, type ResolvedTrainOptions, type TrainOptions } from './options';
import { computeFeatures, featureBatch } from './feature-cache';
import { microBatchFor } from './memory';
import { consoleProgress, stageProgress, type StageProgress } from './progress';
import { createRunFolder, discardRunFolder, finalizeRunFolder, RUN_FILES, runModelDir, writeRunJson, type History, type RunConfig, type RunMetrics } from './run-folder';
import { loadBaseWeights } from './weights';
import { fitAndWriteOod, formatOodFit } from './ood-fit';
import { weightAveragingCallback, type WeightAveraging } from './callbacks/weight-averaging';
import { recalibrateBatchNorm } from './bn-recalibrate';
import { applyRecipe, chooseRecipe, formatRecipe, profileTrainingSplit, type DataRecipe } from './data-recipe';

export interface TrainResult {
  runDir: string;
  runId: string;
  metrics: RunMetrics;
  history: History;
}

export function defaultRunsDir(): string {
  return path.join(repoRoot(), 'runs');
}

export async function train(options: TrainOptions): Promise<TrainResult> {
  const resolved = resolveTrainOptions(options, defaultRunsDir());
  const write = options.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const log = (m: string) => {
    if (!resolved.quiet) write(m);
  };
  const spec = getArch(resolved.arch);
  const backend = await initBackend(resolved.backend, log);
  const dataProgress = stageProgress(log);
  // The data check (not run quietly) reads the photos the groups just read: it reuses their signatures.
  // 16 KB a photo, emptied once the check has run.
  const signatures: SignatureCache | undefined = resolved.quiet || !(resolved.groupThreshold > 0) ? undefined : new Map();
  const listed = await listDataset(resolved.data, {
    signatures,
    valSplit: resolved.valSplit,
    seed: resolved.seed,
    skipBad: resolved.skipBad,
    groupThreshold: resolved.groupThreshold,
    onProgress: (stage, done, total) => (stage === 'comparing' ? dataProgress('grouping: comparing', done, total, 'pairs') : dataProgress(stage, done, total)),
  });
  const index = resolved.fold ? applyFold(listed, resolved.fold, resolved.seed) : listed;
  if (!resolved.quiet) {
    const report = await checkDataset(index, {
      signatures,
      onProgress: (done, total) => dataProgress('checking', done, total),
      onCompare: (done, total) => dataProgress('checking: comparing', done, total, 'pairs'),
    });
    signatures?.clear();
    log(formatDatasetReport(report));
  }
  log(formatGroups(index));
  const recipe = await dataRecipeFor(resolved, options, index, spec.recipe !== undefined);
  if (recipe) for (const line of formatRecipe(recipe)) log(line);
  const o = recipe ? applyRecipe(resolved, recipe.choices) : resolved;
  const fingerprint = await datasetFingerprint(index);

  const run = await createRunFolder(o.out, spec.name, o.mode, o.name);
  log(`run: ${run.finalDir}`);
  let built: BuiltClassifier | undefined;
  const restoreRandom = Math.random;
  let featureCache: { train: tf.Tensor | null; val: tf.Tensor | null } | null = null;
  try {
    // Seed Math.random for the duration of the run: tfjs initialisers and dropout draw from it.
    seedrandom(`parts-${o.seed}`, { global: true });
    const numClasses = index.classes.length;
    built = buildClassifier({ arch: spec.name, mode: o.mode, imgSize: o.imgSize, numClasses, unfreeze: o.unfreeze, seed: o.seed });
    const weightsUsed = await loadBaseWeights(spec.name, o, built, log);
    const meta: ClassifierMeta = {
      format: 'parts-classifier/1',
      ...built.meta,
      labels: index.classes,
      fit: o.fit,
      // Recorded only when it changes the input, so a model without it reads as before.
      ...(o.lightNorm !== 'none' ? { lightNorm: o.lightNorm } : {}),
      runId: run.runId,
    };
    await writeRunJson(run, RUN_FILES.labels, index.classes);
    await writeRunJson(run, RUN_FILES.config, { ...runConfig(run.runId, o, backend, index, fingerprint, meta, weightsUsed), recipe });

    const t0 = Date.now();
    const sets = await loadSets(index, o, dataProgress);
    const bspec: BatchSpec = { imgSize: o.imgSize, preprocess: meta.preprocess, lightNorm: meta.lightNorm, numClasses, outputActivation: meta.outputActivation };
    const classWeights = o.classWeights ? balancedClassWeights(sets.train.labels, numClasses) : null;
    const rng = makeRng(`${o.seed}-batches`);
    const augRng = makeRng(`${o.seed}-augment`);
    const { model, baseVariableNames, toInput } = trainableView(built, o);
    // Feature extraction: validation images (never augmented) and, without augmentation, the
    // training images go through the frozen base once; the head then trains on stored features.
    const extractBase = o.mode === 'extract' && built.base && built.head ? built.base : null;
    featureCache = {
      train: extractBase && o.augment === 'none' ? computeFeatures(extractBase, sets.train, bspec, o.batchSize) : null,
      val: extractBase && sets.val.images.length ? computeFeatures(extractBase, sets.val, bspec, o.batchSize) : null,
    };
    const cached = featureCache;

    // Only wasm has the 2 GB heap limit; other backends take the whole batch.
    const microBatch = backend.name === 'wasm' ? microBatchFor(model, o.batchSize) : undefined;
    if (microBatch) log(`memory: batch ${o.batchSize} trained as micro-batches of ${microBatch} (wasm heap limit)`);
    // The mean of the last epochs' weights (--average-epochs) replaces the best epoch's after training.
    const averaging: WeightAveraging | null = o.averageEpochs > 0 ? weightAveragingCallback(Math.max(1, o.epochs - o.averageEpochs + 1)) : null;
    // Each batch norm and the ReLU after it run as one layer while fitting (bn-fix.ts): same
    // results, two passes over the activation fewer per layer and step on wasm.
    const fused = fuseBatchNormRelu(model);
    const history = await fitLoop({
      model,
      microBatch,
      epochs: o.epochs,
      lr: o.lr,
      baseLrFactor: o.baseLrFactor,
      baseVariableNames,
      activation: meta.outputActivation,
      classWeights,
      labelSmoothing: o.labelSmoothing,
      patience: o.patience,
      lrSchedule: o.lrSchedule,
      warmupEpochs: o.warmupEpochs,
      weightDecay: o.weightDecay,
      batchesPerEpoch: Math.ceil(sets.train.images.length / o.batchSize),
      trainBatches: (epoch) => {
        void epoch;
        const order = shuffledIndices(sets.train.images.length, rng);
        const aug = o.augment !== 'none' ? { rng: augRng, opts: AUGMENT_PRESETS[o.augment] } : undefined;
        if (cached.train) return mapBatches(chunks(order, o.batchSize), (idx) => featureBatch(cached.train!, sets.train, idx, bspec));
        return mapBatches(chunks(order, o.batchSize), (idx) => toInput(makeBatch(sets.train, idx, bspec, aug)));
      },
      valBatches: sets.val.images.length
        ? () =>
            mapBatches(chunks(range(sets.val.images.length), o.batchSize), (idx) =>
              cached.val ? featureBatch(cached.val, sets.val, idx, bspec) : toInput(makeBatch(sets.val, idx, bspec)),
            )
        : undefined,
      progress: o.quiet ? undefined : consoleProgress(),
      // On a terminal the epoch bar is on the current line: clear it so tuning lines stand alone.
      tuneKernels: backend.name === 'webgpu' ? () => tuneWebGPUKernels({ log: (l) => log(process.stderr.isTTY ? `\r\x1b[K${l}` : l) }) : undefined,
      callbacks: averaging ? [averaging] : undefined,
    }).finally(fused.undo);

    const evalSet = async (set: ImageSet) => {
      if (!set.images.length) return null;
      const r = await evaluateBatches(built!.model, mapBatches(chunks(range(set.images.length), o.batchSize), (idx) => makeBatch(set, idx, bspec)), meta.outputActivation, null, 0);
      return { n: r.n, correct: r.correct, accuracy: r.accuracy, loss: r.loss };
    };
    let averaged: RunMetrics['averaged'];
    try {
      const mean = averaging?.mean() ?? null;
      if (averaging && mean) {
        // What the best epoch's weights (restored by the fit loop) score on validation, for comparison.
        const bestEpochVal = await evalSet(sets.val);
        model.setWeights(mean);
        tf.dispose(mean);
        // Un-augmented training photos in a seeded shuffled order: the training split is listed class by
        // class, and batches of one class would miss the variance between classes.
        const order = shuffledIndices(sets.train.images.length, makeRng(`${o.seed}-recalibrate`));
        const layers = recalibrateBatchNorm(
          model,
          (function* () {
            for (const idx of chunks(order, o.batchSize)) {
              const b = toInput(makeBatch(sets.train, idx, bspec));
              b.y.dispose();
              yield b.x;
            }
          })(),
        );
        const ep = averaging.epochs;
        averaged = { epochs: [ep[0], ep[ep.length - 1]], count: ep.length, batchNormLayers: layers, bestEpochVal };
        log(
          `weights: mean of epochs ${ep[0]}-${ep[ep.length - 1]} (${ep.length}), batch-norm statistics of ${layers} layer(s) recomputed on ${sets.train.images.length} training photos` +
            (bestEpochVal ? `; the best epoch's (${history.bestEpoch}) weights scored val ${bestEpochVal.correct}/${bestEpochVal.n}` : ''),
        );
      } else if (averaging) {
        log(`weights: no epoch reached the averaging window (from epoch ${Math.max(1, o.epochs - o.averageEpochs + 1)}; training stopped at ${history.epochs.length}): the best epoch's weights are kept`);
      }
    } finally {
      averaging?.dispose?.();
    }
    const trainTimeMs = Date.now() - t0;
    await writeRunJson(run, RUN_FILES.history, history);
    // Which GPU kernel variant each convolution shape ran with, and its measured time.
    if (backend.name === 'webgpu') await writeRunJson(run, RUN_FILES.kernels, { device: backend.device, kernels: usedKernels() });
    await saveClassifier(built.model, meta, runModelDir(run.tmpDir));
    const ood = await fitAndWriteOod(built.model, meta, sets, runModelDir(run.tmpDir), {
      arch: spec.name,
      acceptRate: o.acceptRate,
      batchSize: o.batchSize,
      silhouette: o.silhouette,
      lineLight: o.oodLineLight,
      turns: o.oodTurns,
      groupOf: index.groupOf,
    });
    log(formatOodFit(ood));
    const metrics: RunMetrics = {
      test: await evalSet(sets.test),
      val: await evalSet(sets.val),
      trainTimeMs,
      epochsRun: history.epochs.length,
      bestEpoch: history.bestEpoch,
      ...(averaged ? { averaged } : {}),
      ood: ood.ood,
      calibration: ood.calibration,
      ...(ood.note ? { oodNote: ood.note } : {}),
      ...(index.groups ? { groups: { threshold: index.groups.threshold, largest: index.groups.largest, train: index.groups.counts.train, val: index.groups.counts.val, test: index.groups.counts.test } } : {}),
    };
    await writeRunJson(run, RUN_FILES.metrics, metrics);
    const runDir = await finalizeRunFolder(run);
    if (metrics.test) log(`test accuracy ${metrics.test.correct}/${metrics.test.n} = ${metrics.test.accuracy.toFixed(3)}, loss ${metrics.test.loss.toFixed(4)}`);
    log(`trained in ${(trainTimeMs / 1000).toFixed(1)}s; run folder: ${runDir}`);
    return { runDir, runId: run.runId, metrics, history };
  } catch (e) {
    await discardRunFolder(run);
    throw e;
  } finally {
    Math.random = restoreRandom;
    tf.dispose([featureCache?.train, featureCache?.val].filter((t): t is tf.Tensor => t != null));
    disposeBuilt(built);
  }
}

/**
 * The recipe chosen from the training split (data-recipe.ts), or null when --no-data-recipe or the
 * architecture has no from-scratch recipe to adapt (the pretrained bases keep their own input size).
 */
async function dataRecipeFor(o: ResolvedTrainOptions, given: TrainOptions, index: DatasetIndex, hasRecipe: boolean): Promise<DataRecipe | null> {
  if (!o.dataRecipe || !hasRecipe || o.mode !== 'scratch') return null;
  const profile = await profileTrainingSplit(index.splits.train, index.classes, { imgSize: o.imgSize, fit: o.fit, seed: o.seed });
  const explicit = new Set(Object.entries(given).filter(([, v]) => v !== undefined).map(([k]) => k));
  return { profile, choices: chooseRecipe(profile, o, explicit) };
}

function runConfig(
  runId: string,
  o: ResolvedTrainOptions,
  backend: BackendInfo,
  index: DatasetIndex,
  fingerprint: string,
  meta: ClassifierMeta,
  weights: string,
): RunConfig {
  const counts = (split: 'train' | 'val' | 'test') =>
    index.classes.map((_, c) => index.splits[split].filter((s) => s.label === c).length);
  return {
    runId,
    createdAt: new Date().toISOString(),
    arch: meta.arch,
    mode: meta.mode,
    imgSize: meta.imgSize,
    fit: meta.fit,
    preprocess: meta.preprocess,
    weights,
    options: o,
    backend,
    data: {
      root: index.root,
      fingerprint,
      classes: index.classes,
      counts: { train: counts('train'), val: counts('val'), test: counts('test') },
      splitSource: index.splitSource,
      ...(index.groups ? { groups: index.groups } : {}),
    },
  };
}

/** The log line on near-duplicate groups: how many each split holds, or that photos were split one by one. */
export function formatGroups(index: DatasetIndex): string {
  const g = index.groups;
  if (!g) return 'splits: photo by photo (no near-duplicate grouping: --group-threshold 0)';
  const parts = (['train', 'val', 'test'] as const)
    .filter((s) => index.splits[s].length > 0)
    .map((s) => (g.counts[s] === null ? `${s} ${index.splits[s].length} photos (${s} folder, not grouped)` : `${s} ${index.splits[s].length} photos in ${g.counts[s]} group(s)`));
  return `splits: near-duplicate groups (similarity >= ${g.threshold}) kept on one side: ${g.total} group(s) in the train folder (the largest ${g.largest} photos); ${parts.join(', ')}`;
}

async function loadSets(index: DatasetIndex, o: ResolvedTrainOptions, progress: StageProgress) {
  // One set of every split's photos, decoded a few at a time, then cut into the splits again.
  const { train: tr, val: va, test: te } = index.splits;
  const all = await loadImageSet([...tr, ...va, ...te], o.imgSize, o.fit, (done, total) => progress(`decoding at ${o.imgSize} px`, done, total));
  const cut = (from: number, to: number): ImageSet => ({ images: all.images.slice(from, to), labels: all.labels.slice(from, to), files: all.files.slice(from, to) });
  const [train, val, test] = [cut(0, tr.length), cut(tr.length, tr.length + va.length), cut(tr.length + va.length, all.images.length)];
  if (!train.images.length) throw new Error(`no training images in ${index.root}`);
  return { train, val, test };
}

/**
 * What the fit loop trains. Feature extraction trains only the head on base features (computed
 * per batch without gradients through the frozen base); other modes train the whole model.
 */
function trainableView(built: BuiltClassifier, o: ResolvedTrainOptions) {
  if (o.mode === 'extract' && built.base && built.head) {
    const base = built.base;
    return {
      model: built.head,
      baseVariableNames: undefined,
      toInput: (b: Batch): Batch => {
        const feats = tf.tidy(() => base.predict(b.x) as tf.Tensor);
        b.x.dispose();
        return { ...b, x: feats };
      },
    };
  }
  const baseVariableNames = new Set<string>();
  const base = built.convBase ?? built.base;
  if (o.mode === 'finetune' && base) {
    for (const w of base.trainableWeights) baseVariableNames.add((w.read() as tf.Variable).name);
  }
  return { model: built.model, baseVariableNames, toInput: (b: Batch) => b };
}

function disposeBuilt(built: BuiltClassifier | undefined): void {
  if (!built) return;
  const seen = new Set<tfl.LayersModel>();
  for (const m of [built.model, built.base, built.head, built.convBase]) {
    if (m && !seen.has(m)) {
      seen.add(m);
      try {
        m.dispose();
      } catch {
        /* shared layers may already be disposed through the full model */
      }
    }
  }
}

function* chunks<T>(items: T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function* mapBatches<T>(src: Iterable<T>, f: (t: T) => Batch): Generator<Batch> {
  for (const t of src) yield f(t);
}
