/**
 * Keras' `Normalization` preprocessing layer, which tfjs-layers 4.22 lacks. EfficientNet has it
 * inside the model and its ImageNet weight file stores the layer's `mean`, `variance` and `count`,
 * so the weights (names, order, shapes) follow Keras: mean [C], variance [C], count [] — all
 * non-trainable. `count` (int64 in Keras) is kept as float32 here; it only matters to Keras' adapt().
 *
 * output = (x - mean) / max(sqrt(variance), 1e-7), per channel (Keras' formula and epsilon).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

export interface NormalizationArgs {
  name?: string;
  /** Channel axis (Keras default -1). */
  axis?: number;
  /** Initial per-channel mean/variance; the weight file (if any) overwrites them. */
  mean?: number[];
  variance?: number[];
  inputShape?: number[];
}

const KERAS_EPSILON = 1e-7;

export class Normalization extends tfl.layers.Layer {
  static className = 'Normalization';
  readonly axis: number;
  private readonly initialMean?: number[];
  private readonly initialVariance?: number[];
  private mean?: tfl.LayerVariable;
  private variance?: tfl.LayerVariable;

  constructor(args: NormalizationArgs = {}) {
    super({ name: args.name, inputShape: args.inputShape });
    this.axis = args.axis ?? -1;
    this.initialMean = args.mean;
    this.initialVariance = args.variance;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const axis = this.axis >= 0 ? this.axis : this.axis + shape.length;
    const channels = shape[axis];
    if (channels == null) throw new Error(`${this.name}: the channel axis ${axis} must have a known size`);
    for (const [what, values] of [['mean', this.initialMean], ['variance', this.initialVariance]] as const) {
      if (values && values.length !== channels) {
        throw new Error(`${this.name}: ${what} has ${values.length} values, the input has ${channels} channels`);
      }
    }
    this.mean = this.addWeight('mean', [channels], 'float32', tfl.initializers.zeros(), undefined, false);
    this.variance = this.addWeight('variance', [channels], 'float32', tfl.initializers.ones(), undefined, false);
    this.addWeight('count', [], 'float32', tfl.initializers.zeros(), undefined, false);
    const { mean, variance, initialMean, initialVariance } = this;
    tf.tidy(() => {
      if (initialMean) mean.write(tf.tensor1d(initialMean));
      if (initialVariance) variance.write(tf.tensor1d(initialVariance));
    });
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (!x || !this.mean || !this.variance) throw new Error(`${this.name}: called before build`);
      const axis = this.axis >= 0 ? this.axis : this.axis + x.rank;
      const paramShape = Array<number>(x.rank).fill(1);
      paramShape[axis] = x.shape[axis] as number;
      const mean = tf.reshape(this.mean.read(), paramShape);
      const std = tf.maximum(tf.sqrt(tf.reshape(this.variance.read(), paramShape)), KERAS_EPSILON);
      return tf.div(tf.sub(tf.cast(x, 'float32'), mean), std);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), axis: this.axis };
  }
}
tf.serialization.registerClass(Normalization);
