/**
 * Keras layers (as tfjs-layers holds them) to ONNX nodes. Every layer type the registry's
 * architectures use is covered: Conv2D, DepthwiseConv2D, Dense, BatchNormalization, Activation and
 * the activations inside conv/dense layers (linear, relu, relu6, sigmoid, swish, tanh, softmax, elu),
 * Max/AveragePooling2D, GlobalAveragePooling2D, ZeroPadding2D, Add, Multiply, Concatenate, Reshape,
 * Flatten, Rescaling, Normalization, Dropout and InputLayer. Anything else is refused with its name.
 *
 * Layout: images are NHWC in Keras and NCHW in ONNX's Conv/Pool ops, so the graph transposes the
 * input once and every rank-4 value here is NCHW; axes (Concatenate), Reshape and Flatten are
 * translated so results equal Keras' exactly (Flatten goes back to NHWC first: Keras flattens
 * height, width, channels in that order). 'same' padding is written as explicit pads computed from
 * the static input size the way TensorFlow does it (the extra pixel at the bottom/right).
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Attr, GraphBuilder } from './graph-builder';

/** An ONNX value and the rank of the Keras tensor it holds (rank 4 = stored NCHW). */
export interface Value {
  name: string;
  rank: number;
  /** Keras shape without the batch dimension (NHWC for rank 4). */
  shape: number[];
}

interface LayerConfig {
  [k: string]: unknown;
}

/** TensorFlow's 'same' padding along one axis: [before, after]. */
export function samePads(size: number, kernel: number, stride: number, dilation = 1): [number, number] {
  const eff = (kernel - 1) * dilation + 1;
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + eff - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

function pair(v: unknown, what: string): [number, number] {
  const a = Array.isArray(v) ? v : [v, v];
  if (a.length !== 2 || !a.every((x) => Number.isInteger(x))) throw new Error(`onnx export: ${what} must be two integers, got ${JSON.stringify(v)}`);
  return [a[0] as number, a[1] as number];
}

/** ONNX pads [top, left, bottom, right] for a conv/pool over an NHWC shape. */
function spatialPads(layer: string, padding: unknown, shape: number[], kernel: [number, number], strides: [number, number], dilation: [number, number] = [1, 1]): number[] {
  if (padding === 'valid') return [0, 0, 0, 0];
  if (padding !== 'same') throw new Error(`onnx export: layer ${layer}: padding ${JSON.stringify(padding)} is not supported (valid, same)`);
  const [t, b] = samePads(shape[0], kernel[0], strides[0], dilation[0]);
  const [l, r] = samePads(shape[1], kernel[1], strides[1], dilation[1]);
  return [t, l, b, r];
}

/** Applies a Keras activation by name to `x`. */
export function activation(g: GraphBuilder, x: Value, fn: unknown, base: string): Value {
  const name = typeof fn === 'string' ? fn : 'linear';
  const out = (n: string): Value => ({ ...x, name: n });
  switch (name) {
    case 'linear':
      return x;
    case 'relu':
      return out(g.node('Relu', [x.name], `${base}_relu`));
    case 'relu6':
      return out(g.node('Clip', [x.name, g.floats(`${base}_min`, [], [0]), g.floats(`${base}_max`, [], [6])], `${base}_relu6`));
    case 'sigmoid':
      return out(g.node('Sigmoid', [x.name], `${base}_sigmoid`));
    case 'tanh':
      return out(g.node('Tanh', [x.name], `${base}_tanh`));
    case 'elu':
      return out(g.node('Elu', [x.name], `${base}_elu`, { alpha: { f: 1 } }));
    case 'swish':
    case 'silu':
      return out(g.node('Mul', [x.name, g.node('Sigmoid', [x.name], `${base}_swish_gate`)], `${base}_swish`));
    case 'softmax':
      if (x.rank !== 2) throw new Error(`onnx export: layer ${base}: softmax on a rank-${x.rank} tensor is not supported`);
      return out(g.node('Softmax', [x.name], `${base}_softmax`, { axis: -1 }));
    default:
      throw new Error(`onnx export: layer ${base}: activation ${JSON.stringify(name)} is not supported`);
  }
}

/** The layer's weights by their Keras short name (kernel, bias, gamma, moving_mean, …). */
function weightsOf(layer: tfl.layers.Layer): Map<string, { shape: number[]; values: Float32Array }> {
  const m = new Map<string, { shape: number[]; values: Float32Array }>();
  const vals = layer.getWeights();
  layer.weights.forEach((w, i) => {
    const short = (w.originalName ?? w.name).split('/').pop()!.replace(/_\d+$/, '');
    m.set(short, { shape: vals[i].shape, values: vals[i].dataSync() as Float32Array });
  });
  return m;
}

function need<T>(m: Map<string, T>, key: string, layer: string): T {
  const v = m.get(key);
  if (!v) throw new Error(`onnx export: layer ${layer} has no weight "${key}" (has ${[...m.keys()].join(', ') || 'none'})`);
  return v;
}

/** [kh, kw, in, out] (Keras) -> [out, in, kh, kw] (ONNX). */
function convKernel(k: { shape: number[]; values: Float32Array }): { dims: number[]; values: Float32Array } {
  const [kh, kw, ci, co] = k.shape;
  const out = new Float32Array(k.values.length);
  for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) out[((o * ci + i) * kh + y) * kw + x] = k.values[((y * kw + x) * ci + i) * co + o];
  return { dims: [co, ci, kh, kw], values: out };
}

/** Depthwise [kh, kw, in, mult] -> grouped [in*mult, 1, kh, kw] (output channel i*mult + m). */
function depthwiseKernel(k: { shape: number[]; values: Float32Array }): { dims: number[]; values: Float32Array } {
  const [kh, kw, ci, mult] = k.shape;
  const out = new Float32Array(k.values.length);
  for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < ci; i++) for (let m = 0; m < mult; m++) out[((i * mult + m) * kh + y) * kw + x] = k.values[((y * kw + x) * ci + i) * mult + m];
  return { dims: [ci * mult, 1, kh, kw], values: out };
}

function outShape(layer: tfl.layers.Layer, nodeIndex: number): number[] {
  const s = layer.getOutputAt(nodeIndex);
  const shape = (Array.isArray(s) ? s[0] : s).shape;
  return shape.slice(1).map((d) => {
    if (d === null) throw new Error(`onnx export: layer ${layer.name} has an unknown output dimension`);
    return d;
  });
}

const toNchwAxis = (axis: number, rank: number): number => {
  const a = axis < 0 ? axis + rank : axis;
  return rank === 4 ? [0, 2, 3, 1][a] : a;
};

/**
 * Emits the nodes of one call of `layer` (its inbound node `nodeIndex`) on `inputs`; returns the
 * output value. The last Dense layer is handled by the exporter (it also emits logits).
 */
export function convertLayer(g: GraphBuilder, layer: tfl.layers.Layer, nodeIndex: number, inputs: Value[]): Value {
  const cls = layer.getClassName();
  const cfg = layer.getConfig() as LayerConfig;
  const base = layer.name;
  const x = inputs[0];
  const shape = outShape(layer, nodeIndex);
  const v = (name: string): Value => ({ name, rank: shape.length + 1, shape });
  const one = () => {
    if (inputs.length !== 1) throw new Error(`onnx export: layer ${base} (${cls}) has ${inputs.length} inputs, expected 1`);
  };
  switch (cls) {
    case 'InputLayer':
    case 'Dropout':
    case 'SpatialDropout2D':
    case 'GaussianNoise':
    case 'GaussianDropout':
      one();
      return x;
    case 'Conv2D': {
      one();
      if (cfg.dataFormat !== 'channelsLast') throw new Error(`onnx export: layer ${base}: only channelsLast is supported`);
      const w = weightsOf(layer);
      const k = convKernel(need(w, 'kernel', base));
      const kernel = pair(cfg.kernelSize, `${base}.kernelSize`), strides = pair(cfg.strides, `${base}.strides`), dil = pair(cfg.dilationRate, `${base}.dilationRate`);
      const ins = [x.name, g.floats(`${base}_W`, k.dims, k.values)];
      if (cfg.useBias) ins.push(g.floats(`${base}_B`, [k.dims[0]], need(w, 'bias', base).values));
      const y = g.node('Conv', ins, base, { kernel_shape: kernel, strides, dilations: dil, pads: spatialPads(base, cfg.padding, x.shape, kernel, strides, dil), group: 1 });
      return activation(g, v(y), cfg.activation, base);
    }
    case 'DepthwiseConv2D': {
      one();
      if (cfg.dataFormat !== 'channelsLast') throw new Error(`onnx export: layer ${base}: only channelsLast is supported`);
      const w = weightsOf(layer);
      const dk = need(w, 'depthwise_kernel', base);
      const k = depthwiseKernel(dk);
      const kernel = pair(cfg.kernelSize, `${base}.kernelSize`), strides = pair(cfg.strides, `${base}.strides`), dil = pair(cfg.dilationRate, `${base}.dilationRate`);
      const ins = [x.name, g.floats(`${base}_W`, k.dims, k.values)];
      if (cfg.useBias) ins.push(g.floats(`${base}_B`, [k.dims[0]], need(w, 'bias', base).values));
      const y = g.node('Conv', ins, base, { kernel_shape: kernel, strides, dilations: dil, pads: spatialPads(base, cfg.padding, x.shape, kernel, strides, dil), group: dk.shape[2] });
      return activation(g, v(y), cfg.activation, base);
    }
    case 'Dense': {
      one();
      if (x.rank !== 2) throw new Error(`onnx export: layer ${base}: Dense on a rank-${x.rank} tensor is not supported`);
      const w = weightsOf(layer);
      const k = need(w, 'kernel', base);
      const ins = [x.name, g.floats(`${base}_W`, k.shape, k.values)];
      if (cfg.useBias) ins.push(g.floats(`${base}_B`, [k.shape[1]], need(w, 'bias', base).values));
      return activation(g, v(g.node('Gemm', ins, base)), cfg.activation, base);
    }
    case 'BatchNormalization': {
      one();
      const axis = cfg.axis as number;
      if (x.rank !== 4 || toNchwAxis(axis, 4) !== 1) throw new Error(`onnx export: layer ${base}: BatchNormalization only over the channel axis of an image`);
      const w = weightsOf(layer);
      const c = x.shape[2];
      const gamma = cfg.scale === false ? new Float32Array(c).fill(1) : need(w, 'gamma', base).values;
      const beta = cfg.center === false ? new Float32Array(c) : need(w, 'beta', base).values;
      const y = g.node('BatchNormalization', [x.name, g.floats(`${base}_gamma`, [c], gamma), g.floats(`${base}_beta`, [c], beta), g.floats(`${base}_mean`, [c], need(w, 'moving_mean', base).values), g.floats(`${base}_var`, [c], need(w, 'moving_variance', base).values)], base, {
        epsilon: { f: cfg.epsilon as number },
      });
      return v(y);
    }
    case 'Activation':
      one();
      return activation(g, { ...x, shape }, cfg.activation, base);
    case 'ReLU': {
      one();
      if (cfg.maxValue === 6) return activation(g, { ...x, shape }, 'relu6', base);
      if (cfg.maxValue != null) throw new Error(`onnx export: layer ${base}: ReLU maxValue ${cfg.maxValue} is not supported`);
      return activation(g, { ...x, shape }, 'relu', base);
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      one();
      const kernel = pair(cfg.poolSize, `${base}.poolSize`), strides = pair(cfg.strides ?? cfg.poolSize, `${base}.strides`);
      const pads = spatialPads(base, cfg.padding, x.shape, kernel, strides);
      // TF's 'same' average pooling divides by the pixels inside the image (count_include_pad 0).
      const attrs: Record<string, Attr> = cls === 'MaxPooling2D' ? { kernel_shape: kernel, strides, pads } : { kernel_shape: kernel, strides, pads, count_include_pad: 0 };
      return v(g.node(cls === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', [x.name], base, attrs));
    }
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D': {
      one();
      const pooled = g.node(cls === 'GlobalAveragePooling2D' ? 'GlobalAveragePool' : 'GlobalMaxPool', [x.name], `${base}_pool`);
      if (cfg.keepDims) return v(pooled);
      return v(g.node('Flatten', [pooled], base, { axis: 1 }));
    }
    case 'Flatten': {
      one();
      const nhwc = x.rank === 4 ? g.node('Transpose', [x.name], `${base}_nhwc`, { perm: [0, 2, 3, 1] }) : x.name;
      return v(g.node('Flatten', [nhwc], base, { axis: 1 }));
    }
    case 'Reshape': {
      one();
      const nhwc = x.rank === 4 ? g.node('Transpose', [x.name], `${base}_nhwc`, { perm: [0, 2, 3, 1] }) : x.name;
      const y = g.node('Reshape', [nhwc, g.int64s(`${base}_shape`, [-1, ...shape])], base);
      return v(shape.length === 3 ? g.node('Transpose', [y], `${base}_nchw`, { perm: [0, 3, 1, 2] }) : y);
    }
    case 'ZeroPadding2D': {
      one();
      const p = cfg.padding as [[number, number], [number, number]];
      const pads = [0, 0, p[0][0], p[1][0], 0, 0, p[0][1], p[1][1]];
      return v(g.node('Pad', [x.name, g.int64s(`${base}_pads`, pads)], base, { mode: 'constant' }));
    }
    case 'Add':
    case 'Multiply': {
      if (inputs.length < 2) throw new Error(`onnx export: layer ${base} (${cls}) needs at least 2 inputs`);
      const op = cls === 'Add' ? 'Add' : 'Mul';
      let acc = inputs[0].name;
      for (const [i, inp] of inputs.slice(1).entries()) acc = g.node(op, [acc, inp.name], i === inputs.length - 2 ? base : `${base}_${i}`);
      return v(acc);
    }
    case 'Concatenate': {
      const axis = toNchwAxis((cfg.axis as number | undefined) ?? -1, x.rank);
      return v(g.node('Concat', inputs.map((i) => i.name), base, { axis }));
    }
    case 'Rescaling': {
      one();
      // scale and offset: a number, or one per channel (EfficientNet's ImageNet-stddev Rescaling).
      const constant = (what: string, c: unknown) => {
        if (typeof c === 'number') return g.floats(`${base}_${what}`, [], [c]);
        if (Array.isArray(c) && x.rank === 4 && c.length === x.shape[2]) return g.floats(`${base}_${what}`, [1, c.length, 1, 1], c as number[]);
        throw new Error(`onnx export: layer ${base}: Rescaling ${what} ${JSON.stringify(c)} is not supported`);
      };
      const scaled = g.node('Mul', [x.name, constant('scale', cfg.scale)], `${base}_scaled`);
      const offset = cfg.offset ?? 0;
      return v(offset === 0 ? scaled : g.node('Add', [scaled, constant('offset', offset)], base));
    }
    case 'Normalization': {
      one();
      if (x.rank !== 4 || toNchwAxis((cfg.axis as number | undefined) ?? -1, 4) !== 1) throw new Error(`onnx export: layer ${base}: Normalization only over the channel axis of an image`);
      const w = weightsOf(layer);
      const c = x.shape[2];
      const mean = need(w, 'mean', base).values;
      // Keras: (x - mean) / max(sqrt(variance), 1e-7).
      const std = Float32Array.from(need(w, 'variance', base).values, (q) => Math.max(Math.sqrt(q), 1e-7));
      const centred = g.node('Sub', [x.name, g.floats(`${base}_mean`, [1, c, 1, 1], mean)], `${base}_centred`);
      return v(g.node('Div', [centred, g.floats(`${base}_std`, [1, c, 1, 1], std)], base));
    }
    default:
      throw new Error(`onnx export: layer ${base} is a ${cls}, which the ONNX exporter does not cover`);
  }
}
