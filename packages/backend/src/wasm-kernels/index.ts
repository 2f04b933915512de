import { getGradient, getKernel, registerGradient, registerKernel, unregisterKernel, type KernelConfig } from '@tensorflow/tfjs-core';
import { BATCH_NORM_TRAIN, batchNormTrainGradConfig } from '../webgpu/batch-norm-train';
import { fusedBatchNormConfig } from './batch-norm-inference';
import { batchNormTrainWasmConfigs } from './batch-norm-train';
import { keepBuiltinKernel } from './builtins';
import { conv2DBackpropFilterConfig } from './conv2d-backprop-filter';
import { conv2DBackpropInputConfig } from './conv2d-backprop-input';
import { depthwiseConv2dNativeBackpropFilterConfig } from './depthwise-backprop-filter';
import { depthwiseConv2dNativeBackpropInputConfig } from './depthwise-backprop-input';
import { identityConfig } from './identity';
import { maxPoolGradConfig } from './max-pool-grad';
import { registerReluGradOverride } from './relu-grad-override';
import { reluConfig } from './relu';
import { fusedTrainOpConfigs } from './fused-train-ops';
import { batchMatMulConfig, sumConfig } from './reductions';
import { convBiasReluGradConfig } from '../webgpu/conv-bias-relu';

export { conv2dFilterGradGemm, conv2dFilterGradNHWC, conv2dFilterGradXnnpack, setConv2dFilterGradImpl, type FilterGradImpl } from './conv2d-backprop-filter';
export { conv2dInputGradNHWC, conv2dInputGradXnnpack, conv2DBackpropInputConfig, setConv2dInputGradImpl, type InputGradImpl } from './conv2d-backprop-input';
export { depthwiseFilterGradNHWC } from './depthwise-backprop-filter';
export { depthwiseInputGradNHWC } from './depthwise-backprop-input';
export { maxPoolGradNHWC } from './max-pool-grad';

/**
 * Gradient kernels tfjs-backend-wasm 4.22 lacks (found by taking the gradient of every op the
 * study's models use on wasm), plus a MaxPoolGrad that replaces the built-in one, which is wrong for
 * some shapes, and a Conv2DBackpropInput that replaces the built-in one, which is correct but slow
 * (it ran ~9× slower than the forward Conv2D; the replacement is a forward XNNPACK convolution),
 * a FusedBatchNorm (inference) that runs as one SIMD pass instead of tfjs' scalar loop,
 * and the fused training-mode batch norm (batch-norm-train.ts) with its gradient.
 * The built-in AvgPoolGrad matches the cpu backend and is left alone.
 */
export const WASM_TRAINING_KERNELS: readonly KernelConfig[] = [
  conv2DBackpropFilterConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  // Training-mode batch norm in three kernels (forward, per-channel sums, input/γ gradient).
  ...batchNormTrainWasmConfigs,
  // ReLU convolution, ReLU gradient and Adam as the WebGPU backend has them (fused-train-ops.ts).
  ...fusedTrainOpConfigs,
];

/**
 * Built-in wasm kernels that are replaced because they give wrong results (MaxPoolGrad) or are slow
 * (the others; Sum and BatchMatMul only for the shapes training makes slow, see reductions.ts;
 * Identity shares its input's memory instead of copying it, see identity.ts; Relu runs on the calling
 * thread, see relu.ts).
 */
const REPLACED_KERNELS: readonly KernelConfig[] = [maxPoolGradConfig, conv2DBackpropInputConfig, fusedBatchNormConfig, sumConfig, batchMatMulConfig, identityConfig, reluConfig];
const replaced = new Set<string>();

/** Registers the missing wasm gradient kernels; safe to call any number of times. Returns the names registered now. */
export function registerWasmTrainingKernels(): string[] {
  const added: string[] = [];
  for (const config of WASM_TRAINING_KERNELS) {
    if (getKernel(config.kernelName, 'wasm') == null) {
      registerKernel(config);
      added.push(config.kernelName);
    }
  }
  if (getGradient(BATCH_NORM_TRAIN) == null) registerGradient(batchNormTrainGradConfig);
  if (getGradient(convBiasReluGradConfig.kernelName) == null) registerGradient(convBiasReluGradConfig);
  registerReluGradOverride();
  for (const config of REPLACED_KERNELS) {
    if (replaced.has(config.kernelName)) continue;
    const builtin = getKernel(config.kernelName, 'wasm');
    if (builtin != null) {
      // Kept for the cases the replacement hands back, and for speed comparisons
      // (setConv2dInputGradImpl('builtin')): builtins.ts.
      keepBuiltinKernel(config.kernelName, builtin.kernelFunc);
      unregisterKernel(config.kernelName, 'wasm');
      // The built-in's set-up (binding its wasm function) must still run when the backend starts.
      registerKernel({ ...config, setupFunc: builtin.setupFunc });
    } else {
      registerKernel(config);
    }
    replaced.add(config.kernelName);
    added.push(`${config.kernelName} (replaces the built-in)`);
  }
  return added;
}
