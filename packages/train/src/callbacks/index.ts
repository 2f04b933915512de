export type { FitCallback, FitState } from './callback';
export { lrScheduleCallback, scheduledLr } from './lr-schedule';
export { weightDecayCallback, decayedVariables } from './weight-decay';
export { bestWeightsCallback } from './best-weights';
export { earlyStoppingCallback } from './early-stopping';
export { progressCallback } from './progress';
export { kernelTuningCallback } from './kernel-tuning';
export { weightAveragingCallback, type WeightAveraging } from './weight-averaging';
