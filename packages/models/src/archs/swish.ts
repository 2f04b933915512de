/**
 * An Activation layer for swish that runs @parts/backend's fused swish where it exists (WebGPU with
 * this project's kernels): one program forward and one backward instead of tfjs-layers' three and
 * seven (see packages/backend/src/webgpu/swish.ts). Everywhere else it is exactly tfjs-layers'
 * Activation layer, whose class name it keeps, so saved models hold a plain Keras 'Activation'.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { fusedSwish, fusedSwishAvailable } from '@parts/backend';
import { registeredLayerClass } from './common';

type ActivationArgs = Parameters<typeof tfl.layers.activation>[0];
const Activation = registeredLayerClass<ActivationArgs>('Activation');

export class SwishActivation extends Activation {
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    const fn = (this as unknown as { activation: { getClassName(): string } }).activation;
    if (!fusedSwishAvailable() || fn.getClassName() !== 'swish') return super.call(inputs, kwargs);
    return fusedSwish(Array.isArray(inputs) ? inputs[0] : inputs);
  }
}

/** tfl.layers.activation({ activation: 'swish' }), fused where the backend allows. */
export function swishActivation(args: Omit<ActivationArgs, 'activation'> = {}): tfl.layers.Layer {
  return new SwishActivation({ ...args, activation: 'swish' });
}
