export type * from './types';
export { initBackend, BACKEND_NAMES } from './select';
export { registerWasmTrainingKernels, WASM_TRAINING_KERNELS, setConv2dFilterGradImpl, type FilterGradImpl } from './wasm-kernels/index';
export { convBiasRelu, convBiasReluAvailable, type ConvBiasReluOptions } from './webgpu/conv-bias-relu';
export { tuneWebGPUKernels, usedKernels, tuneCachePath, type TuneResult, type TuneOptions, type UsedKernel } from './webgpu/index';
export { FusedAdam, createAdam, fusedAdamAvailable } from './webgpu/index';
export { fusedSwish, fusedSwishAvailable } from './webgpu/index';
export { fusedBatchNormTrain, fusedBatchNormTrainAvailable } from './webgpu/index';
