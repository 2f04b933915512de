// The fit loop's callback API, in the manner of Keras' callbacks and fastai's Callback: the loop
// (fit-loop.ts) only trains, validates and records; everything that reacts to its progress is a
// small callback that listens to its events. One fit runs them in this order:
//
//   onTrainBegin                       once, before epoch 1
//   per epoch:
//     onEpochBegin                     state.epoch set; the learning rate may be changed here
//     per training batch:
//       onStepEnd                      right after the optimiser step, before its figures are read
//       onBatchEnd                     after the batch (its tensors already disposed); state.running
//                                      holds the epoch's figures up to the previous batch (the loop
//                                      reads batch i's loss while batch i+1 is queued)
//     onValidateEnd                    after the validation pass (right after training when there is
//                                      none); the epoch's clock still runs
//     onEpochEnd(record, improved)     the epoch's record, in history, and whether the monitored
//                                      loss improved; set state.stopTraining to end after it
//   onTrainEnd                         after the last epoch, when training did not fail
//   dispose                            always, last: release what the callback holds
//
// Every hook is optional and may return a promise, which the loop awaits. Callbacks run in list
// order at each event: fitLoop puts its own (callbacks/*.ts: learning-rate schedule, weight decay,
// kernel tuning, best weights, early stopping, progress) first, then FitLoopOptions.callbacks.
// The loop owns the optimisers, the history and the monitored value: callbacks read the state and
// act through it (setLearningRate, stopTraining, untimed) or on the model's variables.
import type * as tfl from '@tensorflow/tfjs-layers';
import type { EpochRecord, History } from '../run-folder';

type Awaitable = void | Promise<void>;

export interface FitCallback {
  onTrainBegin?(s: FitState): Awaitable;
  onEpochBegin?(s: FitState): Awaitable;
  onStepEnd?(s: FitState): Awaitable;
  onBatchEnd?(s: FitState): Awaitable;
  onValidateEnd?(s: FitState): Awaitable;
  onEpochEnd?(s: FitState, rec: EpochRecord, improved: boolean): Awaitable;
  onTrainEnd?(s: FitState): Awaitable;
  /** Releases tensors the callback holds; called once at the end, also when training fails. */
  dispose?(): void;
}

/** What the fit loop shows its callbacks. */
export interface FitState {
  readonly model: tfl.LayersModel;
  readonly epochs: number;
  readonly batchesPerEpoch: number;
  /** The records so far, the best epoch and the monitored figure ('valLoss' with validation batches). */
  readonly history: History;
  /** Current epoch, 1-based (0 before the first). */
  readonly epoch: number;
  /** Optimiser steps taken since training began (1 at the first onStepEnd). */
  readonly step: number;
  /** Learning rate of the head's variables; the base's is lr * baseLrFactor. */
  readonly lr: number;
  setLearningRate(lr: number): void;
  /** Mean loss and accuracy of this epoch's batches read so far (NaN before the first is read). */
  readonly running: { loss: number; acc: number };
  /** Waits until the figures of every step taken so far are read into `running`. */
  readFigures(): Promise<void>;
  /** Runs fn without counting its time in the epoch's timeMs (one-off work such as kernel tuning). */
  untimed(fn: () => Promise<unknown>): Promise<void>;
  /** Set by a callback to end training after the current epoch. */
  stopTraining: boolean;
}
