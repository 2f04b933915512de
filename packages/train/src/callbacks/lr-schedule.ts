// Learning rate per epoch, set at each epoch's start (Keras' LearningRateScheduler). The fit loop
// records the rate an epoch ran with in its EpochRecord, and weight decay scales with it.
import type { LrScheduleName } from '@parts/cli';
import type { FitCallback } from './callback';

/**
 * Learning rate of a (1-based) epoch. 'cosine': linear warm-up from lr/warmup to lr over the first
 * `warmup` epochs, then half a cosine from lr down to lr/100 at the last epoch (not 0, so the
 * last epoch still learns something).
 */
export function scheduledLr(lr: number, epoch: number, epochs: number, schedule: LrScheduleName, warmup: number): number {
  if (schedule === 'constant') return lr;
  if (epoch <= warmup) return (lr * epoch) / (warmup + 1);
  const span = epochs - warmup;
  const t = span <= 1 ? 1 : (epoch - warmup - 1) / (span - 1);
  const floor = lr / 100;
  return floor + (lr - floor) * 0.5 * (1 + Math.cos(Math.PI * t));
}

export function lrScheduleCallback(lr: number, schedule: LrScheduleName, warmupEpochs: number): FitCallback {
  return {
    onEpochBegin(s) {
      s.setLearningRate(scheduledLr(lr, s.epoch, s.epochs, schedule, warmupEpochs));
    },
  };
}
