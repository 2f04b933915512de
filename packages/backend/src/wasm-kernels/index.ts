import { getKernel, registerKernel, type KernelConfig } from '@tensorflow/tfjs-core';
import { conv2DBackpropFilterConfig } from './conv2d-backprop-filter';
import { depthwiseConv2dNativeBackpropFilterConfig } from './depthwise-backprop-filter';
import { depthwiseConv2dNativeBackpropInputConfig } from './depthwise-backprop-input';

export { conv2dFilterGradNHWC, conv2dFilterGradXnnpack, setConv2dFilterGradImpl, type FilterGradImpl } from './conv2d-backprop-filter';
export { conv2dInputGradNHWC, conv2DBackpropInputConfig } from './conv2d-backprop-input';
export { depthwiseFilterGradNHWC } from './depthwise-backprop-filter';
export { depthwiseInputGradNHWC } from './depthwise-backprop-input';

/**
 * Gradient kernels tfjs-backend-wasm 4.22 lacks (found by taking the gradient of every op the
 * study's models use on wasm). Conv2DBackpropInput, MaxPoolGrad and AvgPoolGrad exist natively and
 * are faster than a TypeScript version, so they are left alone.
 */
export const WASM_TRAINING_KERNELS: readonly KernelConfig[] = [
  conv2DBackpropFilterConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
];

/** Registers the missing wasm gradient kernels; safe to call any number of times. Returns the names registered now. */
export function registerWasmTrainingKernels(): string[] {
  const added: string[] = [];
  for (const config of WASM_TRAINING_KERNELS) {
    if (getKernel(config.kernelName, 'wasm') == null) {
      registerKernel(config);
      added.push(config.kernelName);
    }
  }
  return added;
}
