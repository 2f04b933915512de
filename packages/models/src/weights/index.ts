// Official Keras ImageNet weights: download + cache, Keras HDF5 read/write, loading into tfjs models.
export { resolveCacheDir } from './cache-dir';
export { WeightsUnavailableError, WeightsDownloadError, WeightsChecksumError } from './errors';
export { ensureWeightsFile, weightsFolder, fileNameFromUrl, type EnsureWeightsOptions } from './download';
export { md5File } from './md5';
export { readKerasH5Weights, writeKerasH5Weights, type H5Weight, type KerasH5Weights } from './keras-h5';
export {
  loadKerasWeightsIntoModel,
  assignWeights,
  type LoadKerasWeightsOptions,
  type LoadWeightsResult,
} from './load';
export {
  saveCachedBaseWeights,
  loadCachedBaseWeights,
  cachedWeightsDir,
  type CachedWeightsKey,
} from './tfjs-cache';
export {
  loadPretrainedWeights,
  applyWeightsChoice,
  type PretrainedWeightsOptions,
  type PretrainedWeightsResult,
  type WeightsChoice,
} from './pretrained';
