export { setupWebGPU, type WebGPUAdapterDescription } from './setup';
export { registerWebGPUKernels } from './kernels/register';
export { convBiasRelu, convBiasReluAvailable, type ConvBiasReluOptions } from './conv-bias-relu';
