export { setupWebGPU, type WebGPUAdapterDescription } from './setup';
export { registerWebGPUKernels } from './kernels/register';
