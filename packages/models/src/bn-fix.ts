/**
 * A drop-in replacement for tfjs-layers' BatchNormalization, registered under the same class name
 * so that every model built or loaded after this module is imported uses it, and saved models stay
 * standard tfjs/Keras files (class_name "BatchNormalization", same config, same weights).
 *
 * It fixes two things in tfjs 4.22:
 * 1. `scale: false` (or `center: false`) crashes in training: the built-in training path calls
 *    `this.gamma.read()` although no gamma exists ("Cannot read properties of undefined (reading
 *    'read')"), and its inference path passes an undefined gamma that breaks the gradient as
 *    soon as one flows through the layer. InceptionV3 uses scale=false in every BN layer. Here a
 *    missing gamma/beta is replaced by a constant 1/0, so the weight layout is unchanged.
 * 2. tfjs normalises with batch statistics whenever `training` is true, even for a frozen layer.
 *    Like Keras >= 2.1.3 (and the study's `base_model(x, training=False)`), a BN layer that is not
 *    trainable, or that has `useMovingStatistics` set, always uses its moving mean/variance and
 *    never updates them.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { fusedBatchNormTrain, fusedBatchNormTrainAvailable } from '@parts/backend';
import type { BatchNormalization as TfBatchNormalization } from '@tensorflow/tfjs-layers/dist/layers/normalization';

type Kwargs = Parameters<TfBatchNormalization['call']>[1];
type LayerVariable = tfl.LayerVariable;

/** The built-in class is not exported by value; take it from an instance. */
const BuiltinBatchNormalization = Object.getPrototypeOf(tfl.layers.batchNormalization({}))
  .constructor as typeof TfBatchNormalization;

/** Private fields of the built-in layer that the training path needs. */
interface BnInternals {
  axis: number;
  momentum: number;
  epsilon: number;
  gamma?: LayerVariable | null;
  beta?: LayerVariable | null;
  movingMean: LayerVariable;
  movingVariance: LayerVariable;
}

export class BatchNormalization extends BuiltinBatchNormalization {
  static override className = 'BatchNormalization';

  /**
   * Keep this layer in inference mode during fit() even while its gamma/beta train (Keras'
   * `training=False` on a fine-tuned base). Not serialised: it is a training-time policy.
   */
  useMovingStatistics = false;

  /**
   * Apply a ReLU to the output (set by fuseBatchNormRelu, with the activation layer after it passing
   * its input on): in training on wasm inside the batch norm's own kernels. Not serialised.
   */
  fusedRelu = false;

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const useBatchStatistics = kwargs['training'] === true && this.trainable && !this.useMovingStatistics;
    return tf.tidy(() => {
      const self = this as unknown as BnInternals;
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (x === undefined) throw new Error(`${this.name}: expected one input tensor`);
      const ndim = x.rank;
      const axis = self.axis >= 0 ? self.axis : self.axis + ndim;
      const channels = x.shape[axis] as number;
      // Parameters are 1-D over `axis`; they broadcast directly only when axis is the last one.
      const paramShape = Array<number>(ndim).fill(1);
      paramShape[axis] = channels;
      const shaped = (t: tf.Tensor): tf.Tensor => (axis === ndim - 1 ? t : tf.reshape(t, paramShape));
      // Constant 0/1 instead of a missing beta/gamma: tfjs' batchNorm gradient saves all its
      // inputs and fails on undefined ones (in inference mode too, as soon as a gradient flows
      // through the layer). Constants get no gradient and add no weights.
      const beta = shaped(self.beta ? self.beta.read() : tf.zeros([channels]));
      const gamma = shaped(self.gamma ? self.gamma.read() : tf.ones([channels]));
      // tfjs' fused batchNorm kernels cycle through the parameters as if the channel axis were
      // the last one, so other axes use plain broadcasting arithmetic.
      const normalize = (t: tf.Tensor, m: tf.Tensor, v: tf.Tensor, b: tf.Tensor, g: tf.Tensor): tf.Tensor =>
        axis === ndim - 1
          ? tf.batchNorm(t, m, v, b, g, self.epsilon)
          : tf.add(tf.mul(tf.mul(tf.sub(t, m), tf.rsqrt(tf.add(v, self.epsilon))), g), b);
      const activate = (t: tf.Tensor): tf.Tensor => (this.fusedRelu ? tf.relu(t) : t);
      if (!useBatchStatistics) {
        return activate(normalize(x, shaped(self.movingMean.read()), shaped(self.movingVariance.read()), beta, gamma));
      }
      const reductionAxes = [...Array(ndim).keys()].filter((a) => a !== axis);
      // On WebGPU: statistics, normalisation and their gradient in a few fused programs instead of ~35.
      const fused = axis === ndim - 1 && x.dtype === 'float32' && fusedBatchNormTrainAvailable();
      const { y: out, mean, variance } = fused
        ? fusedBatchNormTrain(x, gamma as tf.Tensor1D, beta as tf.Tensor1D, self.epsilon, this.fusedRelu)
        : (() => {
            const m = tf.moments(x, reductionAxes);
            return { y: activate(normalize(x, shaped(m.mean), shaped(m.variance), beta, gamma)), mean: m.mean, variance: m.variance };
          })();
      const updateMovingAverage = (variable: LayerVariable, value: tf.Tensor): void => {
        tf.tidy(() => {
          const current = variable.read();
          variable.write(tf.sub(current, tf.mul(tf.sub(current, value), 1 - self.momentum)));
        });
      };
      updateMovingAverage(self.movingMean, mean);
      updateMovingAverage(self.movingVariance, variance);
      return out;
    });
  }
}
tf.serialization.registerClass(BatchNormalization);

/** Creates the fixed BatchNormalization layer (same arguments as `tfl.layers.batchNormalization`). */
export function batchNormalization(args: ConstructorParameters<typeof TfBatchNormalization>[0] = {}): BatchNormalization {
  return new BatchNormalization(args);
}

export function isBatchNormalization(layer: tfl.layers.Layer): layer is BatchNormalization {
  return layer instanceof BuiltinBatchNormalization;
}

/** An Activation layer whose function is the ReLU. */
function isReluActivation(layer: tfl.layers.Layer): boolean {
  return layer.getClassName() === 'Activation' && (layer.getConfig() as { activation?: unknown }).activation === 'relu';
}

/**
 * Fuses each batch norm of `model` whose only consumer is a ReLU activation layer with it: the batch
 * norm applies the ReLU (on wasm in training inside its own kernels, which saves the ReLU's two
 * passes over the activation and its gradient's tensor per layer and step) and the activation layer
 * passes its input on. Every output and gradient is the same; the layers, their configs and the saved
 * files do not change. Meant for the duration of a fit: returns how many pairs it fused and the
 * function that undoes it (so that nothing that later cuts the model at a batch norm, such as an
 * explanation, sees its output after the ReLU).
 */
export function fuseBatchNormRelu(model: tfl.LayersModel): { pairs: number; undo: () => void } {
  const undos: (() => void)[] = [];
  const inModel = new Set(model.layers);
  const outputs = new Set(model.outputLayers);
  for (const bn of model.layers) {
    if (!(bn instanceof BatchNormalization) || bn.fusedRelu || outputs.has(bn)) continue;
    if (bn.inboundNodes.length !== 1 || bn.outboundNodes.length !== 1) continue;
    const act = bn.outboundNodes[0]!.outboundLayer;
    if (!inModel.has(act) || !isReluActivation(act) || act.inboundNodes.length !== 1) continue;
    const layer = act as unknown as { call: (inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs) => tf.Tensor | tf.Tensor[] };
    const own = Object.prototype.hasOwnProperty.call(layer, 'call');
    const call = layer.call;
    // The ReLU is applied already. A reshape to the same shape keeps the two layers' outputs distinct
    // tensors over the same data, and its gradient is another such reshape (tf.clone's gradient
    // would copy the tensor).
    layer.call = (inputs) => {
      const t = Array.isArray(inputs) ? inputs[0]! : inputs;
      return tf.reshape(t, t.shape);
    };
    bn.fusedRelu = true;
    undos.push(() => {
      bn.fusedRelu = false;
      if (own) layer.call = call;
      else delete (layer as { call?: unknown }).call;
    });
  }
  return { pairs: undos.length, undo: () => undos.splice(0).reverse().forEach((u) => u()) };
}

/** Keeps every BN layer of `model` in inference mode during training (see the module comment). */
export function freezeBatchNormStatistics(model: tfl.LayersModel): number {
  let count = 0;
  for (const layer of model.layers) {
    if (layer instanceof BatchNormalization) {
      layer.useMovingStatistics = true;
      count++;
    } else if (isBatchNormalization(layer)) {
      // A built-in BN (model deserialised before this module registered the fix) would use
      // batch statistics in fit() and crash when scale=false.
      throw new Error(`layer ${layer.name} is tfjs' built-in BatchNormalization; import @parts/models before loading the model`);
    }
  }
  return count;
}
