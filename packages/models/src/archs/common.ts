import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** Options shared by every architecture builder. */
export interface BuildOptions {
  /** Square input size in pixels (height = width). */
  imgSize: number;
  /** Seed for the weight initialisers; omitted = non-deterministic (Math.random). */
  seed?: number;
}

type Initializer = ReturnType<typeof tfl.initializers.glorotUniform>;

/**
 * Hands out initialisers with a distinct, reproducible seed per call, so a whole network built
 * with the same base seed gets the same weights on every run (tfjs seeds its random ops with a
 * JS PRNG, so this does not depend on the backend). Without a seed, initialisers are unseeded.
 */
export class SeededInit {
  private counter = 0;
  constructor(private readonly seed?: number) {}

  private next(): number | undefined {
    if (this.seed === undefined) return undefined;
    this.counter += 1;
    // Mix seed and counter so seed s and s+1 do not produce shifted copies of each other.
    return ((this.seed * 2654435761) ^ (this.counter * 40503)) >>> 0;
  }

  /** Keras' default kernel initialiser (Conv2D, Dense). */
  glorotUniform(): Initializer {
    return tfl.initializers.glorotUniform({ seed: this.next() });
  }

  varianceScaling(scale: number, mode: 'fanIn' | 'fanOut' | 'fanAvg', distribution: 'normal' | 'uniform' | 'truncatedNormal'): Initializer {
    return tfl.initializers.varianceScaling({ scale, mode, distribution, seed: this.next() });
  }
}

/** Rejects an input size the architecture cannot take, naming the architecture and the limit. */
export function assertImgSize(arch: string, imgSize: number, minImgSize: number): void {
  if (!Number.isInteger(imgSize) || imgSize < minImgSize) {
    throw new Error(`${arch}: input size must be an integer >= ${minImgSize} pixels, got ${String(imgSize)}`);
  }
}

/**
 * Keras `imagenet_utils.correct_pad` (channels_last): the zero padding that makes a stride-2
 * 'valid' convolution behave like TF's 'same' one; asymmetric (less on top/left) for even sizes.
 */
export function correctPad(size: number, kernelSize: number): [[number, number], [number, number]] {
  const adjust = 1 - (size % 2);
  const correct = Math.floor(kernelSize / 2);
  return [
    [correct - adjust, correct],
    [correct - adjust, correct],
  ];
}

/** Static spatial size of a symbolic NHWC tensor (builders only create square, fully-known shapes). */
export function spatialSize(x: tfl.SymbolicTensor): number {
  const h = x.shape[1];
  if (h == null) throw new Error('internal: spatial size unknown');
  return h;
}

/** Applies a layer to one symbolic tensor and narrows the result type. */
export function apply(layer: tfl.layers.Layer, x: tfl.SymbolicTensor | tfl.SymbolicTensor[]): tfl.SymbolicTensor {
  return layer.apply(x) as tfl.SymbolicTensor;
}

/** The classification layer: 1 sigmoid unit (p of the second label) for 2 classes, else a softmax per class. */
export function predictionLayer(numClasses: number, init: SeededInit, name = 'predictions'): tfl.layers.Layer {
  const binary = numClasses === 2;
  return tfl.layers.dense({
    units: binary ? 1 : numClasses,
    activation: binary ? 'sigmoid' : 'softmax',
    kernelInitializer: init.glorotUniform(),
    name,
  });
}

/** tfjs-layers' Conv2D internals that the project's Conv2D subclasses read (public fields of its Conv class at run time). */
export interface Conv2DInternals {
  kernel: { read(): tf.Tensor };
  bias: { read(): tf.Tensor } | null;
  useBias: boolean;
  strides: number[];
  padding: string;
  dataFormat: string;
  dilationRate: number[];
  activation: { getClassName(): string };
  trainable: boolean;
}

/**
 * A tfjs-layers class by the name it is registered under for deserialisation (the package does not
 * export Conv2D, Activation, ... by value), to subclass it.
 */
export function registeredLayerClass<Args>(className: string): new (args: Args) => tfl.layers.Layer {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className] as unknown as [new (args: Args) => tfl.layers.Layer] | undefined;
  if (!entry) throw new Error(`tfjs-layers' ${className} class is not registered (tfjs-layers not loaded?)`);
  return entry[0];
}
