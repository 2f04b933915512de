/**
 * A Conv2D layer with ReLU that trains through @parts/backend's convBiasRelu where that op exists
 * (WebGPU with this project's kernels): one fused pass forward and one ReLU-gradient pass backward
 * instead of tfjs' Conv2D, Add, Relu and Step, Multiply (see packages/backend/src/webgpu/conv-bias-relu.ts).
 * Everywhere else, and for frozen layers, it is exactly tfjs-layers' Conv2D.
 *
 * It is a subclass of tfjs-layers' own Conv2D class and keeps its class name, so saved models hold a
 * plain Keras 'Conv2D' layer and load anywhere without this file.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { convBiasRelu, convBiasReluAvailable } from '@parts/backend';
import { registeredLayerClass, type Conv2DInternals } from './common';

type ConvArgs = Parameters<typeof tfl.layers.conv2d>[0];

const Conv2D = registeredLayerClass<ConvArgs>('Conv2D');

export class ReluConv2D extends Conv2D {
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    const self = this as unknown as Conv2DInternals;
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const fused =
      convBiasReluAvailable() &&
      self.trainable &&
      self.useBias &&
      self.dataFormat === 'channelsLast' &&
      self.dilationRate.every((d) => d === 1) &&
      (self.padding === 'same' || self.padding === 'valid') &&
      self.activation.getClassName() === 'relu' &&
      x.rank === 4;
    if (!fused) return super.call(inputs, kwargs);
    return tf.tidy(() =>
      convBiasRelu(x as tf.Tensor4D, self.kernel.read() as tf.Tensor4D, self.bias!.read() as tf.Tensor1D, {
        strides: [self.strides[0], self.strides[1]],
        pad: self.padding as 'same' | 'valid',
      }),
    );
  }
}

/** tfl.layers.conv2d for a ReLU convolution, training through the fused op where it exists. */
export function reluConv2d(args: ConvArgs): tfl.layers.Layer {
  if (args.activation !== 'relu') throw new Error(`reluConv2d: activation must be 'relu', got ${String(args.activation)}`);
  return new ReluConv2D(args);
}
