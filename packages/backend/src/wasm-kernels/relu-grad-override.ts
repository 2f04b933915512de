// ReLU's gradient as one PartsReluGrad pass (dy where x > 0, else 0) where that kernel runs (wasm
// with the SIMD kernels, WebGPU), instead of tfjs' dy · cast(step(x)): three passes over the
// layer's output, each a scalar single-threaded kernel on wasm. A ReLU after batch norm (PartsNet)
// cannot be fused into its convolution, so its gradient ran that way: 7-8% of a PartsNet training
// step at 128 px. x > 0 exactly where relu(x) > 0, so the kernel written for the ReLU's output
// takes its input here. Elsewhere (cpu, tensorflow, wasm without the SIMD kernels) the gradient
// tfjs registered runs.
//
// Registered with the project's wasm kernels (registerWasmTrainingKernels), after which it serves
// WebGPU as well; a process that never starts wasm keeps tfjs' gradient. Same values as tfjs' for
// finite inputs; where x is NaN, or dy is NaN or ±Inf at an inactive unit, the gradient is 0 (tfjs
// gives NaN), as in the fused ReLU convolution's gradient: a NaN activation still reaches the loss.
// PartsReluGrad has no gradient of its own, so ReLU is not differentiable twice on these backends
// (nothing here takes second derivatives).
import * as tf from '@tensorflow/tfjs-core';
import { Relu, type GradConfig } from '@tensorflow/tfjs-core';
import { fusedOpAvailable } from '../fused-op-available';
import { RELU_GRAD } from '../webgpu/kernels/relu-grad';

/** Registers the gradient over tfjs' own once; safe to call again. */
export function registerReluGradOverride(): void {
  const builtin = tf.getGradient(Relu);
  if (builtin == null || builtin === reluGradConfig) return;
  fallback = builtin;
  tf.registerGradient(reluGradConfig);
}

let fallback: GradConfig | null = null;

const reluGradConfig: GradConfig = {
  kernelName: Relu,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    if (x!.dtype === 'float32' && (dy as tf.Tensor).dtype === 'float32' && fusedOpAvailable([RELU_GRAD], 'simd')) {
      return { x: () => tf.engine().runKernel(RELU_GRAD, { dy: dy as tf.Tensor, y: x! }) as tf.Tensor };
    }
    if (fallback == null) throw new Error('Relu gradient: tfjs\' own gradient was not kept');
    return fallback.gradFunc(dy, saved, attrs);
  },
};
