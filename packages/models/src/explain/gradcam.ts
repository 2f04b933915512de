/**
 * Class activation maps: which parts of a photo made the model answer a class. Grad-CAM (Selvaraju
 * et al. 2017) and the other methods of CAM_METHODS; DEFAULT_CAM_METHOD is the one the product shows.
 *
 * For a target layer A (the last convolutional block's output, GRADCAM_LAYERS) and a class score y
 * (the pre-activation logit of the output layer: z_c for softmax; z for label 1 and -z for label 0
 * of a one-unit sigmoid head), e.g. Grad-CAM:
 *   weights w_k = mean over positions of dy/dA_k,  cam = ReLU(Σ_k w_k A_k),  cam /= max(cam).
 * With `contain` the letterbox's cells are left out (0) when the photo's size is known.
 * The map (target-layer resolution) is upsampled bilinearly to the model's input size, then mapped
 * back onto the photo's own geometry through the inverse of the fit that decodeImage applied
 * (`cover`: the centre crop, so the cut-off margins get 0 — the model never saw them; `contain`: the
 * letterbox, so every photo pixel gets a value). The model input comes from decodeImage with the
 * classifier's size and fit, the same path predict and serve use.
 *
 * Everything runs in inference mode (the base through model.predict, the layers after the target
 * layer through layer.apply with training false), on any backend, and disposes its tensors.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { decodeImage, decodePhoto, downscaleRgb, encodeGrayPng, encodeRgbPng, type FitPolicy, type RawImage } from '@parts/data';
import type { Classifier } from '../classifier';
import { imagesToBatch } from '../classifier';
import type { ClassifierMeta } from '../types';
import { writeFileAtomic } from '../model-files';
import path from 'node:path';

/**
 * Grad-CAM's target layer per architecture (registry name): the output of the last convolutional
 * block, where the features are most class-specific and still have a spatial layout.
 */
export const GRADCAM_LAYERS: Readonly<Record<string, string>> = Object.freeze({
  partsnet: 'block4_relu',
  tinyvgg: 'block2_conv2', // a ReluConv2D: its output is already after the ReLU
  vgg16: 'block5_conv3',
  resnet50: 'conv5_block3_out',
  inception: 'mixed10',
  efficientnet: 'top_activation',
});

export const GRADCAM_METHOD = 'grad-cam';

/** The target layer for an architecture; throws naming the known ones when it has none. */
export function gradCamLayer(arch: string): string {
  const layer = GRADCAM_LAYERS[arch];
  if (!layer) throw new Error(`no Grad-CAM target layer for architecture "${arch}"; known: ${Object.keys(GRADCAM_LAYERS).join(', ')}`);
  return layer;
}

/** A map of values in 0..1, row-major. */
export interface ScalarMap {
  data: Float32Array;
  width: number;
  height: number;
}

export interface InputCam {
  /** The class the map explains (index into labels). */
  classIndex: number;
  /** The classifier's probabilities for the image (rows sum to 1). */
  probabilities: Float32Array;
  /** The class score that was differentiated (logit; -logit for label 0 of a sigmoid head). */
  score: number;
  /** Grad-CAM at the target layer's resolution, 0..1. */
  layerMap: ScalarMap;
  /** Upsampled to the model's input size (imgSize × imgSize), 0..1. */
  inputMap: ScalarMap;
  /** False when ReLU(Σ w_k A_k) was 0 everywhere: no positive evidence, the map is all zeros. */
  hasEvidence: boolean;
}

interface Split {
  /** image -> target activations, inference mode. */
  base: tfl.LayersModel;
  /** The layers between the target and the output layer, in order. */
  chain: tfl.layers.Layer[];
  /** The output Dense layer, evaluated by hand to get its pre-activation logits. */
  output: tfl.layers.Layer;
}

const splits = new WeakMap<tfl.LayersModel, Map<string, Split>>();

/** Layers of `model` that take `layer`'s output (within this model's graph). */
function consumers(model: tfl.LayersModel, layer: tfl.layers.Layer): tfl.layers.Layer[] {
  const inModel = new Set(model.layers);
  const out = new Set<tfl.layers.Layer>();
  for (const node of layer.outboundNodes) if (inModel.has(node.outboundLayer)) out.add(node.outboundLayer);
  return [...out];
}

/**
 * Splits the model at `layerName`: the part up to it (a sub-model sharing the weights) and the
 * chain of single-input layers from there to the output. Cached per model and layer.
 */
function splitModel(model: tfl.LayersModel, layerName: string): Split {
  let byLayer = splits.get(model);
  if (!byLayer) splits.set(model, (byLayer = new Map()));
  const cached = byLayer.get(layerName);
  if (cached) return cached;
  let target: tfl.layers.Layer;
  try {
    target = model.getLayer(layerName);
  } catch {
    throw new Error(`Grad-CAM: model ${model.name} has no layer "${layerName}"`);
  }
  if (model.outputs.length !== 1) throw new Error(`Grad-CAM: model ${model.name} has ${model.outputs.length} outputs, expected 1`);
  const outputLayer = model.outputs[0].sourceLayer;
  const chain: tfl.layers.Layer[] = [];
  let cur = target;
  while (cur !== outputLayer) {
    const next = consumers(model, cur);
    if (next.length !== 1) throw new Error(`Grad-CAM: the layers after "${layerName}" in ${model.name} are not a single chain ("${cur.name}" feeds ${next.length} layers)`);
    cur = next[0];
    if (cur.inboundNodes.filter((n) => n.inboundLayers.length !== 1).length) throw new Error(`Grad-CAM: layer "${cur.name}" after "${layerName}" takes several inputs`);
    if (cur !== outputLayer) chain.push(cur);
  }
  if (outputLayer === target) throw new Error(`Grad-CAM: "${layerName}" is the output layer of ${model.name}`);
  const cfg = outputLayer.getConfig() as { activation?: string; useBias?: boolean };
  if (outputLayer.getClassName() !== 'Dense' || !['sigmoid', 'softmax', 'linear'].includes(String(cfg.activation))) {
    throw new Error(`Grad-CAM: the output layer "${outputLayer.name}" of ${model.name} is ${outputLayer.getClassName()} (${String(cfg.activation)}), expected a Dense sigmoid/softmax layer`);
  }
  const base = tfl.model({ inputs: model.inputs, outputs: target.output as tfl.SymbolicTensor, name: `${model.name}_to_${layerName}` });
  const split = { base, chain, output: outputLayer };
  byLayer.set(layerName, split);
  return split;
}

/** Pre-activation output of a Dense layer, from its own weights. */
function denseLogits(layer: tfl.layers.Layer, x: tf.Tensor): tf.Tensor2D {
  const [kernel, bias] = layer.weights.map((w) => w.read());
  const flat = tf.reshape(x, [x.shape[0], -1]) as tf.Tensor2D;
  const z = tf.matMul(flat, kernel as tf.Tensor2D);
  return (bias ? tf.add(z, bias) : z) as tf.Tensor2D;
}

function argMax(v: Float32Array): number {
  let best = 0;
  for (let j = 1; j < v.length; j++) if (v[j] > v[best]) best = j;
  return best;
}

function logitsToProbabilities(z: tf.Tensor2D, meta: Pick<ClassifierMeta, 'outputActivation'>): tf.Tensor1D {
  if (meta.outputActivation === 'sigmoid') {
    const p = tf.reshape(tf.sigmoid(z), [1]);
    return tf.concat([tf.sub(1, p), p]) as tf.Tensor1D;
  }
  return tf.reshape(tf.softmax(z), [-1]) as tf.Tensor1D;
}

/**
 * How a map is computed from the target layer's activations A (after its ReLU, so A >= 0) and the
 * gradient G = dy/dA of the class score y:
 * - `grad-cam`: ReLU(Σ_k mean_p(G_k) A_k(p)) (Selvaraju et al. 2017).
 * - `hirescam`: ReLU(Σ_k G_k(p) A_k(p)) (Draelos & Carin 2020): the element-wise product, so the map
 *   is the first-order contribution of each position to y. For a layer followed only by global
 *   average pooling and the output layer it equals Grad-CAM (and CAM).
 * - `contrast`: ReLU(c(p) - median_p c(p)) with c(p) = Σ_k G_k(p) A_k(p): the contribution of each
 *   position relative to the photo's typical (background) position. On a photo that is mostly plain
 *   background every background position adds about the same to y; the class's evidence is where
 *   the photo adds MORE than the background does. Without the reference, a class whose score the
 *   background raises (the "small" side of a size task) gets a map that is flat over the background.
 * - `integrated`: integrated gradients at the layer (Sundararajan et al. 2017, as "layer integrated
 *   gradients"): Σ_k (A_k - A0_k)(p) · mean over α of G_k(A0 + α(A - A0))(p), where A0 are the layer's
 *   activations for a blank photo (the photo's area filled with its median colour: the empty paper);
 *   then ReLU. The positions' attributions add up to y(photo) - y(blank) (up to the midpoint rule's
 *   error), so a map shows what in the photo makes the class more likely than the empty paper does,
 *   through the non-linear layers after the target rather than a first-order guess.
 * - `occlusion`: y(photo) - y(photo with a square patch filled with its median colour), per patch
 *   (Zeiler & Fergus 2014), spread over the patch's pixels, averaged where patches overlap; then
 *   ReLU. Model-agnostic and at input resolution, one forward pass per patch.
 */
export const CAM_METHODS = ['grad-cam', 'hirescam', 'contrast', 'integrated', 'occlusion'] as const;

/** Points on the path of integrated gradients (one batch of this many through the layers after the target). */
export const INTEGRATED_STEPS = 16;
export type CamMethod = (typeof CAM_METHODS)[number];

/**
 * The method explanations use unless told otherwise (explainPhoto, predict --explain, serve's
 * ?explain=1, the evaluation's gallery): chosen by measurement on the parts photos, see
 * docs/explain.md. Unlike Grad-CAM it gives the "small" side of a binary size model a map of its own
 * evidence instead of a flat one.
 */
export const DEFAULT_CAM_METHOD: CamMethod = 'contrast';

function assertMethod(m: string): asserts m is CamMethod {
  if (!(CAM_METHODS as readonly string[]).includes(m)) throw new Error(`unknown explanation method "${m}"; known: ${CAM_METHODS.join(', ')}`);
}

interface ScoreHead {
  split: Split;
  /** Logits from target activations. */
  head: (a: tf.Tensor) => tf.Tensor2D;
  /** Class score from logits (batch of 1 or n): [n]. */
  scores: (z: tf.Tensor2D, cls: number) => tf.Tensor1D;
}

function scoreHead(c: Pick<Classifier, 'model' | 'meta'>, layerName: string): ScoreHead {
  const { meta } = c;
  const split = splitModel(c.model, layerName);
  const k = meta.labels.length;
  const head = (a: tf.Tensor): tf.Tensor2D => {
    let x = a;
    for (const layer of split.chain) x = layer.apply(x, { training: false }) as tf.Tensor;
    return denseLogits(split.output, x);
  };
  // A one-hot product, not gather: gather's gradient needs UnsortedSegmentSum, which wasm lacks.
  const scores = (z: tf.Tensor2D, cls: number): tf.Tensor1D =>
    (meta.outputActivation === 'sigmoid' ? (cls === 1 ? tf.reshape(z, [-1]) : tf.neg(tf.reshape(z, [-1]))) : tf.sum(tf.mul(z, tf.oneHot([cls], k)), 1)) as tf.Tensor1D;
  return { split, head, scores };
}

function checkClass(classIndex: number | undefined, k: number): void {
  if (classIndex !== undefined && (!Number.isInteger(classIndex) || classIndex < 0 || classIndex >= k)) {
    throw new RangeError(`explanation: classIndex must be an integer from 0 to ${k - 1}, got ${classIndex}`);
  }
}

/** The lower middle value. */
function median(v: Float32Array): number {
  if (v.length === 0) return 0;
  const sorted = Float32Array.from(v).sort();
  return sorted[(sorted.length - 1) >> 1];
}

/**
 * The part of the model's S×S input that shows the photo: all of it for `cover`; for `contain`, the
 * centred rectangle inside the letterbox. In input pixels, [x0, x1) × [y0, y1).
 */
export function photoArea(fit: FitPolicy, S: number, photo?: { width: number; height: number }): { x0: number; y0: number; x1: number; y1: number } {
  if (!photo || fit === 'cover') return { x0: 0, y0: 0, x1: S, y1: S };
  const scale = Math.min(S / photo.width, S / photo.height);
  const w = photo.width * scale, h = photo.height * scale;
  return { x0: (S - w) / 2, y0: (S - h) / 2, x1: (S + w) / 2, y1: (S + h) / 2 };
}

/** Which cells of a w×h map over the input have their centre on the photo (photoArea). */
function insideMask(w: number, h: number, meta: Pick<ClassifierMeta, 'fit' | 'imgSize'>, photo?: { width: number; height: number }): Uint8Array {
  const S = meta.imgSize;
  const a = photoArea(meta.fit, S, photo);
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const u = ((x + 0.5) * S) / w, v = ((y + 0.5) * S) / h;
      out[y * w + x] = u >= a.x0 && u < a.x1 && v >= a.y0 && v < a.y1 ? 1 : 0;
    }
  }
  return out;
}

function normalise(raw: Float32Array, width: number, height: number): { map: ScalarMap; max: number } {
  // Values within float32 rounding of 0 (relative to the largest magnitude) are no evidence.
  let max = 0, mag = 0;
  for (const v of raw) (max = Math.max(max, v)), (mag = Math.max(mag, Math.abs(v)));
  if (max <= 1e-5 * mag) max = 0;
  const map: ScalarMap = { data: new Float32Array(raw.length), width, height };
  if (max > 0) for (let i = 0; i < raw.length; i++) map.data[i] = Math.max(raw[i], 0) / max;
  return { map, max };
}

/**
 * Grad-CAM (or `method`) for one image already fitted to the model's input (decodeImage at
 * meta.imgSize/fit). `classIndex` defaults to the predicted class.
 */
export async function gradCamForInput(
  c: Pick<Classifier, 'model' | 'meta'>,
  input: RawImage,
  opts: {
    classIndex?: number;
    layer?: string;
    method?: CamMethod;
    occlusion?: OcclusionOptions;
    /** The photo's size before the fit: with `contain`, the letterbox is left out of the map (0) and of contrast's reference. */
    photo?: { width: number; height: number };
  } = {},
): Promise<InputCam> {
  const { meta } = c;
  const method = opts.method ?? 'grad-cam';
  assertMethod(method);
  const layerName = opts.layer ?? gradCamLayer(meta.arch);
  const { head, scores, split } = scoreHead(c, layerName);
  checkClass(opts.classIndex, meta.labels.length);
  if (method === 'occlusion') return occlusionForInput(c, input, { ...opts.occlusion, classIndex: opts.classIndex, layer: layerName, photo: opts.photo });
  const scoreOf = (z: tf.Tensor2D, cls: number): tf.Scalar => tf.reshape(scores(z, cls), []) as tf.Scalar;

  // Two steps so that the class can be read asynchronously (webgpu cannot read synchronously in Node).
  // Integrated gradients start from a blank photo: the input with the photo's area filled with its
  // median colour (the paper), the letterbox kept.
  const images = method === 'integrated' ? [input, blankPhoto(input, meta, opts.photo)] : [input];
  const [a, a0, probs] = tf.tidy(() => {
    const acts = split.base.predict(imagesToBatch(images, meta)) as tf.Tensor4D;
    const act = tf.slice(acts, [0, 0, 0, 0], [1, -1, -1, -1]);
    const ref = images.length > 1 ? tf.slice(acts, [1, 0, 0, 0], [1, -1, -1, -1]) : tf.zerosLike(act);
    return [act, ref, logitsToProbabilities(head(act), meta)] as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D];
  });
  let raw: Float32Array, probabilities: Float32Array, score: number, cls: number;
  let cam: tf.Tensor2D | undefined;
  try {
    probabilities = (await probs.data()) as Float32Array;
    cls = opts.classIndex ?? argMax(probabilities);
    const [map, s] = tf.tidy(() => {
      const [h, w] = [a.shape[1], a.shape[2]];
      let m: tf.Tensor;
      if (method === 'integrated') {
        // Midpoint rule over INTEGRATED_STEPS points of the straight path from a0 to a, in one batch.
        const n = INTEGRATED_STEPS;
        const alphas = tf.reshape(tf.div(tf.add(tf.range(0, n), 0.5), n), [n, 1, 1, 1]);
        const path = tf.add(a0, tf.mul(alphas, tf.sub(a, a0)));
        const grads = tf.grad((x: tf.Tensor) => tf.sum(scores(head(x), cls)))(path);
        m = tf.sum(tf.mul(tf.sub(a, a0), tf.mean(grads, 0, true)), -1);
      } else {
        const grads = tf.grad((act: tf.Tensor) => scoreOf(head(act), cls))(a) as tf.Tensor4D;
        // grad-cam: Σ_k mean(G_k) A_k; the others: the contribution Σ_k G_k A_k (ReLU and reference below).
        m = method === 'grad-cam' ? tf.sum(tf.mul(a, tf.mean(grads, [1, 2], true)), -1) : tf.sum(tf.mul(a, grads), -1);
      }
      return [tf.reshape(m, [h, w]) as tf.Tensor2D, scoreOf(head(a), cls)];
    });
    cam = map;
    try {
      [raw, score] = [(await map.data()) as Float32Array, (await s.data())[0]];
    } finally {
      s.dispose();
    }
  } finally {
    tf.dispose([a, a0, probs, ...(cam ? [cam] : [])]);
  }
  const [, h, w] = a.shape;
  const inside = insideMask(w, h, meta, opts.photo);
  for (let i = 0; i < raw.length; i++) if (!inside[i]) raw[i] = 0;
  if (method === 'contrast') {
    const ref = median(raw.filter((_, i) => inside[i]));
    for (let i = 0; i < raw.length; i++) raw[i] = inside[i] ? raw[i] - ref : 0;
  }
  const { map: layerMap, max } = normalise(raw, w, h);
  const S = meta.imgSize;
  return {
    classIndex: cls,
    probabilities,
    score,
    layerMap,
    inputMap: resampleMap(layerMap, S, S, (x, y) => [(x * w) / S, (y * h) / S]),
    hasEvidence: max > 0,
  };
}

/** Occlusion patch side as a share of the input side, and the stride as a share of the patch. */
export const OCCLUSION_PATCH = 1 / 8;
export const OCCLUSION_STRIDE = 1 / 2;

export interface OcclusionOptions {
  /** Patch side as a share of the input side (default OCCLUSION_PATCH). */
  patch?: number;
  /** Stride as a share of the patch side (default OCCLUSION_STRIDE). */
  stride?: number;
  /** Occluded images per forward pass (default 16). */
  batchSize?: number;
}

/** Median of each channel of an RGB image (the background colour of a mostly plain photo). */
function medianColour(img: RawImage): [number, number, number] {
  const n = img.width * img.height;
  const out: number[] = [];
  for (let ch = 0; ch < 3; ch++) {
    const v = new Uint8Array(n);
    for (let i = 0; i < n; i++) v[i] = img.data[i * 3 + ch];
    v.sort();
    out.push(v[n >> 1]);
  }
  return out as [number, number, number];
}

/** The fitted input with the photo's area (photoArea) filled with that area's median colour. */
function blankPhoto(input: RawImage, meta: Pick<ClassifierMeta, 'fit' | 'imgSize'>, photo?: { width: number; height: number }): RawImage {
  const S = meta.imgSize;
  const a = photoArea(meta.fit, S, photo);
  const [x0, y0, x1, y1] = [Math.ceil(a.x0 - 0.5), Math.ceil(a.y0 - 0.5), Math.ceil(a.x1 - 0.5), Math.ceil(a.y1 - 0.5)];
  const area: RawImage = { data: new Uint8Array((x1 - x0) * (y1 - y0) * 3), width: x1 - x0, height: y1 - y0 };
  for (let y = y0; y < y1; y++) area.data.set(input.data.subarray((y * S + x0) * 3, (y * S + x1) * 3), (y - y0) * area.width * 3);
  const fill = medianColour(area);
  const data = Uint8Array.from(input.data);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) data.set(fill, (y * S + x) * 3);
  return { data, width: S, height: S };
}

/** Occlusion map (see CAM_METHODS) at the input's resolution; layerMap is the same map. */
async function occlusionForInput(
  c: Pick<Classifier, 'model' | 'meta'>,
  input: RawImage,
  opts: OcclusionOptions & { classIndex?: number; layer: string; photo?: { width: number; height: number } },
): Promise<InputCam> {
  const { meta } = c;
  const { head, scores, split } = scoreHead(c, opts.layer);
  const S = meta.imgSize;
  const patch = Math.max(1, Math.round((opts.patch ?? OCCLUSION_PATCH) * S));
  const stride = Math.max(1, Math.round(patch * (opts.stride ?? OCCLUSION_STRIDE)));
  const starts: number[] = [];
  for (let p = 0; p + patch < S; p += stride) starts.push(p);
  starts.push(S - patch);
  const fill = medianColour(input);
  const logitsOf = async (images: RawImage[]): Promise<tf.Tensor2D> => tf.tidy(() => head(split.base.predict(imagesToBatch(images, meta)) as tf.Tensor4D));
  const z0 = await logitsOf([input]);
  let probabilities: Float32Array, cls: number, score: number;
  try {
    const p0 = tf.tidy(() => logitsToProbabilities(z0, meta));
    try {
      probabilities = (await p0.data()) as Float32Array;
    } finally {
      p0.dispose();
    }
    cls = opts.classIndex ?? argMax(probabilities);
    const s0 = tf.tidy(() => scores(z0, cls));
    try {
      score = (await s0.data())[0];
    } finally {
      s0.dispose();
    }
  } finally {
    z0.dispose();
  }
  const boxes: [number, number][] = [];
  const area = photoArea(meta.fit, S, opts.photo);
  const on = (p: number, lo: number, hi: number) => p + patch / 2 >= lo && p + patch / 2 < hi;
  for (const y of starts) for (const x of starts) if (on(x, area.x0, area.x1) && on(y, area.y0, area.y1)) boxes.push([x, y]);
  const sum = new Float32Array(S * S), count = new Float32Array(S * S);
  const bs = opts.batchSize ?? 16;
  for (let b = 0; b < boxes.length; b += bs) {
    const chunk = boxes.slice(b, b + bs);
    const images = chunk.map(([x0, y0]) => {
      const data = Uint8Array.from(input.data);
      for (let y = y0; y < y0 + patch; y++) for (let x = x0; x < x0 + patch; x++) data.set(fill, (y * S + x) * 3);
      return { data, width: S, height: S };
    });
    const t = tf.tidy(() => scores(head(split.base.predict(imagesToBatch(images, meta)) as tf.Tensor4D), cls));
    const ys = (await t.data()) as Float32Array;
    t.dispose();
    chunk.forEach(([x0, y0], j) => {
      const d = score - ys[j];
      for (let y = y0; y < y0 + patch; y++) for (let x = x0; x < x0 + patch; x++) (sum[y * S + x] += d), count[y * S + x]++;
    });
  }
  const inside = insideMask(S, S, meta, opts.photo);
  for (let i = 0; i < sum.length; i++) sum[i] = count[i] && inside[i] ? sum[i] / count[i] : 0;
  const { map, max } = normalise(sum, S, S);
  return { classIndex: cls, probabilities, score, layerMap: map, inputMap: map, hasEvidence: max > 0 };
}

/**
 * Bilinear resampling: output pixel (x, y) (centre at x + 0.5) reads the source at the continuous
 * coordinate `map(x + 0.5, y + 0.5)` (source pixel i covers [i, i + 1)), clamped at the edges;
 * `map` returns null for points the source does not cover (value 0).
 */
function resampleMap(src: ScalarMap, width: number, height: number, map: (x: number, y: number) => [number, number] | null): ScalarMap {
  const out = new Float32Array(width * height);
  const { data, width: sw, height: sh } = src;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const m = map(x + 0.5, y + 0.5);
      if (!m) continue;
      const u = Math.min(Math.max(m[0] - 0.5, 0), sw - 1);
      const v = Math.min(Math.max(m[1] - 0.5, 0), sh - 1);
      const x0 = Math.floor(u), y0 = Math.floor(v);
      const x1 = Math.min(x0 + 1, sw - 1), y1 = Math.min(y0 + 1, sh - 1);
      const fx = u - x0, fy = v - y0;
      const top = data[y0 * sw + x0] * (1 - fx) + data[y0 * sw + x1] * fx;
      const bottom = data[y1 * sw + x0] * (1 - fx) + data[y1 * sw + x1] * fx;
      out[y * width + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return { data: out, width, height };
}

/**
 * Maps a map over the model's square input back onto a photo of width × height, inverting the fit
 * decodeImage applied (scale about the centre; `cover` crops, `contain` letterboxes). With `cover`
 * the cropped-off margins get 0. Sub-pixel rounding of sharp's resize is ignored (under one input
 * pixel).
 */
export function inputMapToPhoto(inputMap: ScalarMap, fit: FitPolicy, width: number, height: number): ScalarMap {
  const S = inputMap.width;
  if (inputMap.height !== S) throw new RangeError(`inputMapToPhoto: the input map must be square, got ${inputMap.width}x${inputMap.height}`);
  const scale = fit === 'cover' ? Math.max(S / width, S / height) : Math.min(S / width, S / height);
  // Offset of the photo's scaled top-left corner in input coordinates (negative when cropped).
  const ox = (S - width * scale) / 2;
  const oy = (S - height * scale) / 2;
  return resampleMap(inputMap, width, height, (x, y) => {
    const u = x * scale + ox, v = y * scale + oy;
    return u < 0 || v < 0 || u > S || v > S ? null : [u, v];
  });
}

export interface GradCamOptions {
  /** Class to explain (index into labels); default the predicted class. */
  classIndex?: number;
  /** Target layer; default GRADCAM_LAYERS[arch]. */
  layer?: string;
  /** Largest side of the returned photo and maps (default: the photo's own size). */
  maxSide?: number;
  /** Name for error messages (e.g. the file name). */
  name?: string;
  /** Pixel limit for decoding, as in decodeImage. */
  maxPixels?: number;
  /** How the map is computed (default DEFAULT_CAM_METHOD). */
  method?: CamMethod;
}

export interface Explanation extends InputCam {
  method: CamMethod;
  layer: string;
  label: string;
  /** The photo as decoded (EXIF-oriented RGB), downscaled to maxSide when given. */
  photo: RawImage;
  /** Grad-CAM on the photo's geometry (photo.width × photo.height), 0..1. */
  heatmap: ScalarMap;
}

/** The explanation (DEFAULT_CAM_METHOD unless `method` is given) of a photo file's bytes, on the photo's own geometry. */
export async function explainPhoto(c: Pick<Classifier, 'model' | 'meta'>, bytes: Buffer, opts: GradCamOptions = {}): Promise<Explanation> {
  const { meta } = c;
  const input = await decodeImage(bytes, { size: meta.imgSize, fit: meta.fit, name: opts.name, maxPixels: opts.maxPixels });
  let photo = await decodePhoto(bytes, opts.name, opts.maxPixels);
  if (opts.maxSide !== undefined) photo = await downscaleRgb(photo, opts.maxSide);
  const layer = opts.layer ?? gradCamLayer(meta.arch);
  const method = opts.method ?? DEFAULT_CAM_METHOD;
  const cam = await gradCamForInput(c, input, { classIndex: opts.classIndex, layer, method, photo: { width: photo.width, height: photo.height } });
  return {
    ...cam,
    method,
    layer,
    label: meta.labels[cam.classIndex],
    photo,
    heatmap: inputMapToPhoto(cam.inputMap, meta.fit, photo.width, photo.height),
  };
}

function toBytes(map: ScalarMap): Uint8Array {
  const out = new Uint8Array(map.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(Math.min(Math.max(map.data[i], 0), 1) * 255);
  return out;
}

/** The "jet" colour map: 0 = dark blue, 0.5 = green, 1 = dark red. */
export function jet(t: number): [number, number, number] {
  const c = (x: number) => Math.round(255 * Math.min(Math.max(x, 0), 1));
  return [c(1.5 - Math.abs(4 * t - 3)), c(1.5 - Math.abs(4 * t - 2)), c(1.5 - Math.abs(4 * t - 1))];
}

/** Blends the jet-coloured map over the photo (`alpha` = weight of the colour, default 0.45). */
export function overlayImage(photo: RawImage, map: ScalarMap, alpha = 0.45): RawImage {
  if (photo.width !== map.width || photo.height !== map.height) throw new RangeError(`overlay: photo ${photo.width}x${photo.height} and map ${map.width}x${map.height} differ`);
  const lut = Array.from({ length: 256 }, (_, i) => jet(i / 255));
  const level = toBytes(map);
  const out = new Uint8Array(photo.data.length);
  for (let i = 0; i < level.length; i++) {
    const col = lut[level[i]];
    for (let ch = 0; ch < 3; ch++) out[i * 3 + ch] = Math.round(photo.data[i * 3 + ch] * (1 - alpha) + col[ch] * alpha);
  }
  return { data: out, width: photo.width, height: photo.height };
}

/** Grayscale PNG of the heatmap (0..255, photo size). */
export function heatmapPng(e: Pick<Explanation, 'heatmap'>): Promise<Buffer> {
  return encodeGrayPng(toBytes(e.heatmap), e.heatmap.width, e.heatmap.height);
}

/** PNG of the heatmap in colour blended over the photo. */
export function overlayPng(e: Pick<Explanation, 'heatmap' | 'photo'>, alpha?: number): Promise<Buffer> {
  return encodeRgbPng(overlayImage(e.photo, e.heatmap, alpha));
}

/** `data:image/png;base64,...` of the overlay (for JSON answers). */
export async function overlayDataUrl(e: Pick<Explanation, 'heatmap' | 'photo'>, alpha?: number): Promise<string> {
  return `data:image/png;base64,${(await overlayPng(e, alpha)).toString('base64')}`;
}

/** Writes `<dir>/<name>.heatmap.png` and `<dir>/<name>.overlay.png`, each atomically; returns their paths. */
export async function writeExplanationPngs(e: Pick<Explanation, 'heatmap' | 'photo'>, dir: string, name: string): Promise<{ heatmap: string; overlay: string }> {
  if (!name || name.includes('/') || name.includes('\\') || name === '.' || name === '..') throw new Error(`writeExplanationPngs: bad file name "${name}"`);
  const heatmap = path.join(dir, `${name}.heatmap.png`);
  const overlay = path.join(dir, `${name}.overlay.png`);
  const [h, o] = await Promise.all([heatmapPng(e), overlayPng(e)]);
  await writeFileAtomic(heatmap, h);
  await writeFileAtomic(overlay, o);
  return { heatmap, overlay };
}
