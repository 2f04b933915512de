/**
 * A Conv2D layer without bias or activation (a convolution that batch norm follows) that runs as
 * tfjs' plain conv2d op. tfjs-layers runs every Conv2D as tf.fused.conv2d, whose gradient is a
 * custom one that computes the gradient of every input; conv2d's registered gradient is computed
 * only for the inputs on the path to the variables. So the first layer no longer computes a
 * gradient for the photo it is given: a backward convolution of the whole input per training step
 * that nothing uses (about 2% of PartsNet's step at 128 px). Forward pass and the gradients that are
 * used are the same kernels as before (same values).
 *
 * It is a subclass of tfjs-layers' own Conv2D class and keeps its class name, so saved models hold a
 * plain Keras 'Conv2D' layer and load anywhere without this file.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { registeredLayerClass, type Conv2DInternals } from './common';

type ConvArgs = Parameters<typeof tfl.layers.conv2d>[0];

const Conv2D = registeredLayerClass<ConvArgs>('Conv2D');

export class PlainConv2D extends Conv2D {
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    const self = this as unknown as Conv2DInternals;
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const plain =
      !self.useBias &&
      self.activation.getClassName() === 'linear' &&
      self.dataFormat === 'channelsLast' &&
      (self.padding === 'same' || self.padding === 'valid') &&
      x.rank === 4;
    if (!plain) return super.call(inputs, kwargs);
    return tf.tidy(() =>
      tf.conv2d(x as tf.Tensor4D, self.kernel.read() as tf.Tensor4D, [self.strides[0]!, self.strides[1]!], self.padding as 'same' | 'valid', 'NHWC', [
        self.dilationRate[0]!,
        self.dilationRate[1]!,
      ]),
    );
  }
}

/** tfl.layers.conv2d for a convolution with no bias and no activation. */
export function plainConv2d(args: ConvArgs): tfl.layers.Layer {
  if (args.useBias !== false) throw new Error('plainConv2d: useBias must be false');
  if (args.activation !== undefined && args.activation !== 'linear') throw new Error(`plainConv2d: activation must be linear, got ${String(args.activation)}`);
  return new PlainConv2D(args);
}
