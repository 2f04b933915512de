// The training loop. Written by hand rather than with model.fit so that class weights, label
// smoothing, a separate learning rate for unfrozen base layers, per-epoch augmentation and
// "restore the best weights" all work the same on every backend.
//
// The loop itself only trains, validates and keeps the history (which epoch is best by the
// monitored loss); what reacts to its progress is a callback (callbacks/callback.ts describes the
// events and their order): the learning-rate schedule, weight decay, GPU kernel tuning, the best
// weights, early stopping and the progress display, built from FitLoopOptions by fitCallbacks,
// then any extra FitLoopOptions.callbacks.
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { createAdam } from '@parts/backend';
import type { LrScheduleName } from '@parts/cli';
import { argmaxRows, weightedCrossEntropy } from './loss';
import type { EpochProgress } from './progress';
import type { EpochRecord, History } from './run-folder';
import type { FitCallback, FitState } from './callbacks/callback';
import { lrScheduleCallback } from './callbacks/lr-schedule';
import { weightDecayCallback } from './callbacks/weight-decay';
import { kernelTuningCallback } from './callbacks/kernel-tuning';
import { bestWeightsCallback } from './callbacks/best-weights';
import { earlyStoppingCallback } from './callbacks/early-stopping';
import { progressCallback } from './callbacks/progress';

export { scheduledLr } from './callbacks/lr-schedule';
export type { FitCallback, FitState } from './callbacks/callback';

export interface Batch {
  x: tf.Tensor;
  y: tf.Tensor2D;
  labels: number[];
}

export interface FitLoopOptions {
  model: tfl.LayersModel;
  epochs: number;
  lr: number;
  /** Variables trained at lr * baseLrFactor (unfrozen layers of a pretrained base). */
  baseVariableNames?: Set<string>;
  baseLrFactor?: number;
  activation: 'sigmoid' | 'softmax';
  classWeights: number[] | null;
  labelSmoothing: number;
  /** Early stopping after this many epochs without improvement; 0 = off (the best weights are restored either way). */
  patience: number;
  /** Learning rate per epoch; default constant lr. */
  lrSchedule?: LrScheduleName;
  warmupEpochs?: number;
  /** Decoupled (AdamW-style) weight decay of conv/dense kernels; 0 = off. */
  weightDecay?: number;
  /** Split each training batch into chunks of at most this many images (memory bound); undefined = never. */
  microBatch?: number;
  /** Yields the training batches of one epoch; the loop disposes them. */
  trainBatches: (epoch: number) => Iterable<Batch> | AsyncIterable<Batch>;
  /** Validation batches (not augmented); the loop disposes them. */
  valBatches?: () => Iterable<Batch> | AsyncIterable<Batch>;
  batchesPerEpoch: number;
  progress?: EpochProgress;
  /**
   * Awaited after the first training step and after the first epoch: an autotuning backend
   * (WebGPU) times its kernel variants on the shapes met so far (training, last partial batch,
   * validation) and uses the fastest from then on. Not counted in the epoch's time.
   */
  tuneKernels?: () => Promise<unknown>;
  /** More callbacks, run after the ones the options above make (see callbacks/callback.ts). */
  callbacks?: FitCallback[];
}

/**
 * The callbacks FitLoopOptions asks for, in the order the loop runs them at each event: the
 * schedule sets an epoch's rate before anything reads it, kernel tuning pauses before the progress
 * tick (which then shows step 1's figures), and the best-weights copy is taken before the epoch's
 * line is printed. Best weights are always restored; early stopping only with patience > 0.
 */
export function fitCallbacks(o: FitLoopOptions): FitCallback[] {
  const cbs: FitCallback[] = [lrScheduleCallback(o.lr, o.lrSchedule ?? 'constant', o.warmupEpochs ?? 0)];
  if (o.weightDecay) cbs.push(weightDecayCallback(o.weightDecay));
  if (o.tuneKernels) cbs.push(kernelTuningCallback(o.tuneKernels));
  cbs.push(bestWeightsCallback());
  if (o.patience > 0) cbs.push(earlyStoppingCallback(o.patience));
  if (o.progress) cbs.push(progressCallback(o.progress));
  return [...cbs, ...(o.callbacks ?? [])];
}

export async function fitLoop(o: FitLoopOptions): Promise<History> {
  const history: History = { epochs: [], bestEpoch: 0, monitor: o.valBatches ? 'valLoss' : 'loss', stoppedEarly: false };
  const baseLrFactor = o.baseLrFactor ?? 0.1;
  const headOpt = createAdam(o.lr);
  const baseOpt = createAdam(o.lr * baseLrFactor);
  const callbacks = fitCallbacks(o);
  const weightsOf = () => o.model.trainableWeights.map((w) => w.read() as tf.Variable);
  // This epoch's running figures, and the readback of the last step not yet awaited.
  let lossSum = 0;
  let correct = 0;
  let seen = 0;
  let pending: Promise<void> | null = null;
  let untimedMs = 0;
  const state = {
    model: o.model,
    epochs: o.epochs,
    batchesPerEpoch: o.batchesPerEpoch,
    history,
    epoch: 0,
    step: 0,
    lr: o.lr,
    stopTraining: false,
    setLearningRate(lr: number) {
      state.lr = lr;
      setLearningRate(headOpt, lr);
      setLearningRate(baseOpt, lr * baseLrFactor);
    },
    get running() {
      // Figures up to the last batch read (NaN, shown as '-', before the first is read).
      return { loss: seen ? lossSum / seen : NaN, acc: seen ? correct / seen : NaN };
    },
    async readFigures() {
      if (pending) await pending;
    },
    async untimed(fn: () => Promise<unknown>) {
      const t0 = Date.now();
      await fn();
      untimedMs += Date.now() - t0;
    },
  } satisfies FitState;
  // Runs one event's hooks in order. Synchronous until a hook returns a promise: then the rest run
  // after it settles and emit returns that promise. The batch events await only such a promise, so
  // synchronous hooks add no waits to the batch loop (a progress tick sees the same readbacks landed
  // as it would without callbacks in between).
  const emit = <E extends Exclude<keyof FitCallback, 'dispose'>>(event: E, ...args: HookArgs<E>): Promise<void> | void => {
    const from = (i: number): Promise<void> | void => {
      for (; i < callbacks.length; i++) {
        const hook = callbacks[i][event] as ((s: FitState, ...a: unknown[]) => void | Promise<void>) | undefined;
        const r = hook?.call(callbacks[i], state, ...args);
        const next = i + 1;
        if (r) return r.then(() => from(next));
      }
    };
    return from(0);
  };
  let bestValue = Infinity;
  try {
    await emit('onTrainBegin');
    for (let epoch = 1; epoch <= o.epochs; epoch++) {
      const t0 = Date.now();
      state.epoch = epoch;
      lossSum = correct = seen = 0;
      pending = null;
      untimedMs = 0;
      await emit('onEpochBegin');
      const lr = state.lr;
      for await (const batch of o.trainBatches(epoch)) {
        try {
          const { loss, preds } = trainStep(o, batch, weightsOf(), headOpt, baseOpt);
          state.step++;
          const stepped = emit('onStepEnd');
          if (stepped) await stepped;
          const labels = batch.labels;
          const read: Promise<void> = Promise.all([loss.data(), preds.data()])
            .then(([lv, pv]) => {
              lossSum += lv[0] * labels.length;
              seen += labels.length;
              correct += countCorrect(pv as Float32Array, labels);
            })
            .finally(() => tf.dispose([loss, preds]));
          read.catch(() => undefined); // awaited below or on the next batch; no unhandled rejection meanwhile
          // The loss and predictions of step i are read while step i+1 is queued: on a GPU, awaiting
          // each readback before queueing the next step would leave the GPU idle for its latency.
          if (pending) await pending;
          pending = read;
        } finally {
          disposeBatch(batch);
        }
        const ended = emit('onBatchEnd');
        if (ended) await ended;
      }
      if (pending) await pending;
      const rec: EpochRecord = { epoch, loss: lossSum / seen, acc: correct / seen, lr, timeMs: 0 };
      if (o.valBatches) {
        const v = await evaluateBatches(o.model, o.valBatches(), o.activation, o.classWeights, 0);
        rec.valLoss = v.loss;
        rec.valAcc = v.accuracy;
      }
      await emit('onValidateEnd');
      // Epoch time without one-off work such as kernel tuning (logged by itself).
      rec.timeMs = Date.now() - t0 - untimedMs;
      history.epochs.push(rec);
      const monitored = history.monitor === 'valLoss' ? rec.valLoss! : rec.loss;
      const improved = monitored < bestValue - 1e-6;
      if (improved) {
        bestValue = monitored;
        history.bestEpoch = epoch;
      }
      await emit('onEpochEnd', rec, improved);
      if (state.stopTraining) {
        history.stoppedEarly = epoch < o.epochs;
        break;
      }
    }
    await emit('onTrainEnd');
  } finally {
    for (const cb of callbacks) cb.dispose?.();
    headOpt.dispose();
    baseOpt.dispose();
  }
  return history;
}

type HookArgs<E extends keyof FitCallback> = FitCallback[E] extends ((s: FitState, ...a: infer A) => unknown) | undefined ? A : never;

function setLearningRate(opt: tf.Optimizer, lr: number): void {
  // tfjs' Adam reads `learningRate` on every applyGradients call.
  (opt as unknown as { learningRate: number }).learningRate = lr;
}

/**
 * One optimiser step on one batch, exactly as fitLoop takes it (micro-batches, class weights, label
 * smoothing, separate base learning rate). Exported for `pnpm bench`, which times this path.
 */
export function trainStep(
  o: Pick<FitLoopOptions, 'model' | 'activation' | 'classWeights' | 'labelSmoothing' | 'microBatch' | 'baseVariableNames'>,
  batch: Batch,
  vars: tf.Variable[],
  headOpt: tf.Optimizer,
  baseOpt: tf.Optimizer,
): { loss: tf.Scalar; preds: tf.Tensor } {
  const n = batch.labels.length;
  const micro = o.microBatch && o.microBatch < n ? o.microBatch : n;
  let lossSum: tf.Scalar | null = null;
  const predParts: tf.Tensor[] = [];
  let grads: tf.NamedTensorMap = {};
  // Large batches are split into micro-batches whose gradients are summed before one update:
  // the same step as the whole batch (up to batch-norm statistics), with a fraction of the memory.
  for (let start = 0; start < n; start += micro) {
    const size = Math.min(micro, n - start);
    const whole = size === n;
    const x = whole ? batch.x : tf.slice(batch.x, start, size);
    const y = whole ? batch.y : (tf.slice(batch.y, start, size) as tf.Tensor2D);
    const labels = batch.labels.slice(start, start + size);
    const sw = o.classWeights ? tf.tensor1d(labels.map((l) => o.classWeights![l])) : null;
    const { value, grads: g } = tf.variableGrads(() => {
      const yPred = o.model.apply(x, { training: true }) as tf.Tensor;
      predParts.push(tf.keep(tf.clone(yPred)));
      // Each micro-batch's mean loss weighted by its share of the batch: the parts sum to the batch mean.
      return tf.mul(weightedCrossEntropy(y, yPred, sw, o.activation, o.labelSmoothing), size / n) as tf.Scalar;
    }, vars);
    if (!whole) tf.dispose([x, y]);
    sw?.dispose();
    lossSum = lossSum ? addDisposing(lossSum, value) : value;
    grads = Object.keys(grads).length ? Object.fromEntries(Object.entries(g).map(([k, t]) => [k, addDisposing(grads[k], t)])) : g;
  }
  const headGrads: tf.NamedTensorMap = {};
  const baseGrads: tf.NamedTensorMap = {};
  for (const [name, g] of Object.entries(grads)) {
    (o.baseVariableNames?.has(name) ? baseGrads : headGrads)[name] = g;
  }
  if (Object.keys(headGrads).length) headOpt.applyGradients(headGrads);
  if (Object.keys(baseGrads).length) baseOpt.applyGradients(baseGrads);
  Object.values(grads).forEach((g) => g.dispose());
  const preds = predParts.length === 1 ? predParts[0] : tf.concat(predParts);
  if (predParts.length > 1) tf.dispose(predParts);
  return { loss: lossSum!, preds };
}

function addDisposing<T extends tf.Tensor>(a: T, b: T): T {
  const sum = tf.add(a, b) as T;
  a.dispose();
  b.dispose();
  return sum;
}

function countCorrect(probs: Float32Array, labels: number[]): number {
  const pred = argmaxRows(probs, labels.length);
  return pred.reduce((c, p, i) => c + (p === labels[i] ? 1 : 0), 0);
}

function disposeBatch(b: Batch): void {
  b.x.dispose();
  b.y.dispose();
}

export interface BatchEvaluation {
  loss: number;
  accuracy: number;
  n: number;
  correct: number;
  /** Model outputs per sample (1 unit for sigmoid, k for softmax). */
  outputs: Float32Array[];
}

/** Loss and accuracy of a model over batches (inference mode); disposes the batches. */
export async function evaluateBatches(
  model: tfl.LayersModel,
  batches: Iterable<Batch> | AsyncIterable<Batch>,
  activation: 'sigmoid' | 'softmax',
  classWeights: number[] | null,
  labelSmoothing: number,
): Promise<BatchEvaluation> {
  let lossSum = 0;
  let correct = 0;
  let n = 0;
  const outputs: Float32Array[] = [];
  for await (const b of batches) {
    const yPred = tf.tidy(() => model.predict(b.x) as tf.Tensor);
    const sw = classWeights ? tf.tensor1d(b.labels.map((l) => classWeights[l])) : null;
    const loss = weightedCrossEntropy(b.y, yPred, sw, activation, labelSmoothing);
    const [lv, pv] = await Promise.all([loss.data(), yPred.data()]);
    const units = pv.length / b.labels.length;
    for (let i = 0; i < b.labels.length; i++) outputs.push((pv as Float32Array).slice(i * units, (i + 1) * units));
    lossSum += lv[0] * b.labels.length;
    correct += countCorrect(pv as Float32Array, b.labels);
    n += b.labels.length;
    tf.dispose([yPred, loss, ...(sw ? [sw] : [])]);
    disposeBatch(b);
  }
  return { loss: n ? lossSum / n : NaN, accuracy: n ? correct / n : NaN, n, correct, outputs };
}
