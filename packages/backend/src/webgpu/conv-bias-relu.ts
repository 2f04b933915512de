// relu(conv2d(x, w) + b) with its own gradient, for training on WebGPU.
//
// Why: under a gradient tape tfjs never fuses a non-linear activation into the convolution
// (tf.fused.conv2d falls back to Conv2D, Add, Relu) and differentiates ReLU as dy · step(x): five
// passes over the layer's output besides the convolutions, ~5 ms per Tiny VGG step at 256 px on an
// H200. Here the forward pass is one FusedConv2D (bias and ReLU applied before the store) and the
// backward pass starts with one PartsReluGrad pass; the convolution gradients are the usual kernels.
import * as tf from '@tensorflow/tfjs-core';
import { RELU_GRAD } from './kernels/relu-grad';

export interface ConvBiasReluOptions {
  strides: [number, number];
  pad: 'same' | 'valid';
}

/** True where convBiasRelu's kernels exist: the webgpu backend with our kernels registered. */
export function convBiasReluAvailable(): boolean {
  return tf.getBackend() === 'webgpu' && Boolean(tf.getKernel(RELU_GRAD, 'webgpu'));
}

/** relu(conv2d(x, w, strides, pad) + b) for NHWC x, filter [fH, fW, C, F], bias [F]; no dilation. */
export function convBiasRelu(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D, o: ConvBiasReluOptions): tf.Tensor4D {
  if (!convBiasReluAvailable()) throw new Error(`convBiasRelu needs the webgpu backend with ${RELU_GRAD} registered (current backend: ${tf.getBackend()})`);
  const engine = tf.engine();
  const conv = { strides: o.strides, pad: o.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, ws, bs] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const y = engine.runKernel('FusedConv2D', { x: xs, filter: ws, bias: bs }, { ...conv, dilations: [1, 1], activation: 'relu' } as never) as tf.Tensor4D;
    save([xs, ws, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xSaved, wSaved, ySaved] = saved;
        const g = engine.runKernel(RELU_GRAD, { dy, y: ySaved }) as tf.Tensor4D;
        const dx = engine.runKernel('Conv2DBackpropInput', { dy: g, filter: wSaved }, { ...conv, inputShape: xSaved.shape } as never) as tf.Tensor;
        const dw = engine.runKernel('Conv2DBackpropFilter', { x: xSaved, dy: g }, { ...conv, filterShape: wSaved.shape } as never) as tf.Tensor;
        const db = tf.sum(g, [0, 1, 2]);
        g.dispose();
        return [dx, dw, db];
      },
    };
  });
  return op(x, w, b) as tf.Tensor4D;
}
