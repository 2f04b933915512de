// relu(conv2d(x, w) + b) with its own gradient, for training on WebGPU and wasm.
//
// Why: under a gradient tape tfjs never fuses a non-linear activation into the convolution
// (tf.fused.conv2d falls back to Conv2D, Add, Relu) and differentiates ReLU as dy · step(x): five
// passes over the layer's output besides the convolutions, ~5 ms per Tiny VGG step at 256 px on an
// H200. Here the forward pass is one kernel (our FusedConv2D GEMM with bias and ReLU applied before
// the store) and the backward pass starts with one PartsReluGrad pass.
//
// It is a kernel of its own with a registered gradient rather than a tf.customGrad: tfjs calls a
// registered gradient's per-input functions only for inputs on the path to the variables, so the
// first layer never computes the gradient for the image (a custom gradient computes every input's:
// for Tiny VGG's first layer a 2M-row GEMM with 3 useful columns of 64, thrown away).
import * as tf from '@tensorflow/tfjs-core';
import type { GradConfig, KernelConfig, KernelFunc, NamedAttrMap } from '@tensorflow/tfjs-core';
import { RELU_GRAD } from './kernels/relu-grad';
import { fusedOpAvailable } from '../fused-op-available';

export const CONV_BIAS_RELU = 'PartsConvBiasRelu';

export interface ConvBiasReluOptions {
  strides: [number, number];
  pad: 'same' | 'valid';
}

/**
 * True where convBiasRelu's kernels exist: the webgpu backend with our kernels registered, or wasm
 * with its SIMD kernels (wasm-kernels/fused-train-ops.ts).
 */
export function convBiasReluAvailable(): boolean {
  return fusedOpAvailable([CONV_BIAS_RELU, RELU_GRAD], 'simd');
}

/** relu(conv2d(x, w, strides, pad) + b) for NHWC x, filter [fH, fW, C, F], bias [F]; no dilation. */
export function convBiasRelu(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D, o: ConvBiasReluOptions): tf.Tensor4D {
  if (!convBiasReluAvailable()) throw new Error(`convBiasRelu needs the webgpu backend, or wasm with its SIMD kernels, with ${CONV_BIAS_RELU} registered (current backend: ${tf.getBackend()})`);
  return tf.engine().runKernel(CONV_BIAS_RELU, { x, filter: w, bias: b }, { strides: o.strides, pad: o.pad } as unknown as NamedAttrMap) as tf.Tensor4D;
}

const convAttrs = (attrs: NamedAttrMap) => ({ strides: attrs.strides, pad: attrs.pad, dataFormat: 'NHWC', dimRoundingMode: undefined });

/** The forward kernel: the webgpu FusedConv2D kernel registered at the time (ours) with a ReLU epilogue. */
export function convBiasReluKernelConfig(): KernelConfig {
  const kernelFunc = (args: Parameters<KernelFunc>[0]) => {
    const fused = tf.getKernel('FusedConv2D', 'webgpu');
    if (!fused) throw new Error(`${CONV_BIAS_RELU}: no FusedConv2D kernel on webgpu`);
    return fused.kernelFunc({ ...args, attrs: { ...convAttrs(args.attrs ?? {}), dilations: [1, 1], activation: 'relu' } as unknown as NamedAttrMap });
  };
  return { kernelName: CONV_BIAS_RELU, backendName: 'webgpu', kernelFunc: kernelFunc as KernelFunc };
}

/** Its gradient: one PartsReluGrad pass, then each input's gradient only when asked for. */
export const convBiasReluGradConfig: GradConfig = {
  kernelName: CONV_BIAS_RELU,
  inputsToSave: ['x', 'filter'],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, filter, y] = saved;
    const engine = tf.engine();
    const conv = convAttrs(attrs);
    // Kept until the backward pass ends (its tidy scope), like any intermediate gradient.
    const g = engine.runKernel(RELU_GRAD, { dy: dy as tf.Tensor, y }) as tf.Tensor4D;
    return {
      x: () => engine.runKernel('Conv2DBackpropInput', { dy: g, filter }, { ...conv, inputShape: x.shape } as unknown as NamedAttrMap) as tf.Tensor,
      filter: () => engine.runKernel('Conv2DBackpropFilter', { x, dy: g }, { ...conv, filterShape: filter.shape } as unknown as NamedAttrMap) as tf.Tensor,
      bias: () => tf.sum(g, [0, 1, 2]),
    };
  },
};
