export { setupWebGPU, type WebGPUAdapterDescription } from './setup';
export { registerWebGPUKernels } from './kernels/register';
export { convBiasRelu, convBiasReluAvailable, type ConvBiasReluOptions } from './conv-bias-relu';
export { tuneWebGPUKernels, tuneCachePath, type TuneResult, type TuneOptions } from './autotune';
export { usedKernels, type UsedKernel } from './kernels/kernel-choice';
export { FusedAdam, createAdam, fusedAdamAvailable } from './fused-adam';
export { fusedSwish, fusedSwishAvailable } from './swish';
export { fusedBatchNormTrain, fusedBatchNormTrainAvailable } from './batch-norm-train';
