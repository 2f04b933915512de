import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { readKerasH5Weights, type H5Weight, type KerasH5Weights } from './keras-h5';

export interface LoadKerasWeightsOptions {
  /**
   * false (default, like Keras `load_weights`): the i-th model layer that has weights gets the i-th file
   * layer that has weights, in topological order; names may differ (the official ResNet50 file uses the
   * old `res2a_branch2a` names). true: match by layer name; model layers absent from the file are left
   * as they are and reported in `skipped`.
   */
  byName?: boolean;
  /** With `byName` only (as in Keras): skip layers whose weight shapes differ instead of throwing. */
  skipMismatch?: boolean;
}

export interface LoadWeightsResult {
  /** Number of layers whose weights were set. */
  loaded: number;
  /** Model layers (with weights) that were not set: absent from the file (byName) or skipped mismatches. */
  skipped: string[];
}

/** Loads a Keras 2 `.h5` weights file into `model`; see `LoadKerasWeightsOptions` for the matching rule. */
export async function loadKerasWeightsIntoModel(
  model: tfl.LayersModel,
  h5Path: string,
  opts: LoadKerasWeightsOptions = {},
): Promise<LoadWeightsResult> {
  const weights = await readKerasH5Weights(h5Path);
  return assignWeights(model, weights, h5Path, opts);
}

/**
 * Sets `model`'s weights from a layer → weights map (from an .h5 file or the tfjs cache).
 * Everything is checked before anything is assigned, so a failed load leaves the model untouched.
 * Errors name the source, the layer (model and file names) and both shapes.
 */
export function assignWeights(
  model: tfl.LayersModel,
  weights: KerasH5Weights,
  source: string,
  opts: LoadKerasWeightsOptions = {},
): LoadWeightsResult {
  if (opts.skipMismatch && !opts.byName) {
    throw new Error('skipMismatch is only supported together with byName (as in Keras load_weights)');
  }
  const modelLayers = model.layers.filter((l) => l.weights.length > 0);
  const plan: { layer: tfl.layers.Layer; stored: H5Weight[] }[] = [];
  const skipped: string[] = [];

  if (opts.byName) {
    for (const layer of modelLayers) {
      const stored = weights.get(layer.name);
      if (!stored || stored.length === 0) {
        skipped.push(layer.name);
        continue;
      }
      const problem = mismatch(layer, stored, layer.name, source);
      if (problem) {
        if (opts.skipMismatch) {
          skipped.push(layer.name);
          continue;
        }
        throw new Error(problem);
      }
      plan.push({ layer, stored });
    }
  } else {
    const fileLayers = [...weights].filter(([, w]) => w.length > 0);
    if (fileLayers.length !== modelLayers.length) {
      throw new Error(countMismatchMessage(modelLayers.map((l) => l.name), fileLayers.map(([n]) => n), source));
    }
    modelLayers.forEach((layer, i) => {
      const [fileName, stored] = fileLayers[i];
      const problem = mismatch(layer, stored, fileName, source);
      if (problem) throw new Error(problem);
      plan.push({ layer, stored });
    });
  }

  for (const { layer, stored } of plan) {
    const tensors = stored.map((w) => tf.tensor(w.values, w.shape, 'float32'));
    try {
      layer.setWeights(tensors);
    } finally {
      tf.dispose(tensors);
    }
  }
  return { loaded: plan.length, skipped };
}

function mismatch(layer: tfl.layers.Layer, stored: H5Weight[], fileLayer: string, source: string): string | undefined {
  const label = fileLayer === layer.name ? `layer '${layer.name}'` : `layer '${layer.name}' (file layer '${fileLayer}')`;
  const expected = layer.weights;
  if (expected.length !== stored.length) {
    return `${source}: ${label} has ${stored.length} weights in the file (${stored.map((w) => w.name).join(', ')}) ` +
      `but ${expected.length} in the model (${expected.map((w) => w.originalName).join(', ')})`;
  }
  for (let i = 0; i < stored.length; i++) {
    const fileShape = stored[i].shape;
    const modelShape = expected[i].shape;
    if (fileShape.length !== modelShape.length || fileShape.some((d, k) => d !== modelShape[k])) {
      return `${source}: shape mismatch in ${label}, weight '${stored[i].name}': ` +
        `file [${fileShape.join(', ')}] vs model [${modelShape.join(', ')}]`;
    }
    const size = fileShape.reduce((a, b) => a * b, 1);
    if (stored[i].values.length !== size) {
      return `${source}: weight '${stored[i].name}' of ${label} holds ${stored[i].values.length} values for shape [${fileShape.join(', ')}]`;
    }
  }
  return undefined;
}

function countMismatchMessage(modelNames: string[], fileNames: string[], source: string): string {
  let msg = `${source}: the file has ${fileNames.length} layers with weights but the model has ${modelNames.length}`;
  const fileSet = new Set(fileNames);
  const modelSet = new Set(modelNames);
  const notInFile = modelNames.filter((n) => !fileSet.has(n));
  const notInModel = fileNames.filter((n) => !modelSet.has(n));
  const list = (xs: string[]) => xs.slice(0, 10).join(', ') + (xs.length > 10 ? `, ... (${xs.length} in all)` : '');
  // Names only help when the file uses the model's naming; otherwise point at the unmatched tail.
  if (notInFile.length < modelNames.length && (notInFile.length || notInModel.length)) {
    if (notInFile.length) msg += `; model layers missing from the file: ${list(notInFile)}`;
    if (notInModel.length) msg += `; file layers not in the model: ${list(notInModel)}`;
  } else if (modelNames.length > fileNames.length) {
    msg += `; unmatched model layers: ${list(modelNames.slice(fileNames.length))}`;
  } else {
    msg += `; unmatched file layers: ${list(fileNames.slice(modelNames.length))}`;
  }
  return msg;
}
