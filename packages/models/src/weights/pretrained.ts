import fs from 'node:fs/promises';
import path from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { resolveCacheDir } from './cache-dir';
import { ensureWeightsFile, fileNameFromUrl, weightsFolder, type EnsureWeightsOptions } from './download';
import { loadKerasWeightsIntoModel, type LoadWeightsResult } from './load';
import { loadCachedBaseWeights, saveCachedBaseWeights } from './tfjs-cache';

/** The download's options (url and md5: the arch file's WEIGHTS_URL_NOTOP / WEIGHTS_MD5_NOTOP), plus the arch. */
export interface PretrainedWeightsOptions extends Pick<EnsureWeightsOptions, 'url' | 'md5' | 'fileName' | 'cacheDir' | 'onProgress' | 'timeoutMs' | 'log'> {
  /** Architecture id, part of the tfjs cache key (e.g. 'vgg16'). */
  arch: string;
}

export interface PretrainedWeightsResult extends LoadWeightsResult {
  /** Where the weights came from: the tfjs cache, a cached `.h5`, or a fresh download. */
  source: 'tfjs-cache' | 'h5-cache' | 'download';
  /** Path of the `.h5` used (absent for a tfjs cache hit). */
  h5Path?: string;
}

/**
 * Loads the official ImageNet weights into a base model (the notop topology, not base+head):
 * tfjs cache → cached `.h5` (md5-checked) → download. After an `.h5` load the weights are saved to the
 * tfjs cache so the next run starts fast. Offline without a cached copy this throws
 * `WeightsUnavailableError`, whose message names the file, the URL and the folder to put it in.
 */
export async function loadPretrainedWeights(
  model: tfl.LayersModel,
  opts: PretrainedWeightsOptions,
): Promise<PretrainedWeightsResult> {
  const cacheDir = opts.cacheDir ?? resolveCacheDir();
  const log = opts.log ?? ((m: string) => console.error(m));
  const key = { arch: opts.arch, md5: opts.md5, cacheDir };
  const cached = await loadCachedBaseWeights(model, key, log);
  if (cached) return { ...cached, source: 'tfjs-cache' };

  const fileName = opts.fileName ?? fileNameFromUrl(opts.url);
  const wasCached = await fs
    .stat(path.join(weightsFolder(cacheDir), fileName))
    .then((s) => s.isFile())
    .catch(() => false);
  const h5Path = await ensureWeightsFile({ ...opts, fileName, cacheDir, log });
  const result = await loadKerasWeightsIntoModel(model, h5Path);
  try {
    await saveCachedBaseWeights(model, { ...key, source: opts.url });
  } catch (e) {
    // The weights are loaded; a read-only or full cache only costs speed next time.
    log(`could not write the tfjs weights cache: ${(e as Error).message}`);
  }
  return { ...result, source: wasCached ? 'h5-cache' : 'download', h5Path };
}

/** Value of a `--weights` option: ImageNet, random init, or a path to a Keras `.h5`. */
export type WeightsChoice = 'imagenet' | 'none' | (string & {});

/**
 * Applies a `--weights` choice to a base model: 'none' leaves the random init, 'imagenet' calls
 * `loadPretrainedWeights`, anything else is a path to a Keras 2 `.h5` loaded in topological order.
 */
export async function applyWeightsChoice(
  model: tfl.LayersModel,
  choice: WeightsChoice,
  opts: PretrainedWeightsOptions,
): Promise<PretrainedWeightsResult | { source: 'none' } | (LoadWeightsResult & { source: 'file'; h5Path: string })> {
  if (choice === 'none') return { source: 'none' };
  if (choice === 'imagenet') return loadPretrainedWeights(model, opts);
  const h5Path = path.resolve(choice);
  return { ...(await loadKerasWeightsIntoModel(model, h5Path)), source: 'file', h5Path };
}
