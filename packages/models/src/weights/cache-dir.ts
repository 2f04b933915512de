import path from 'node:path';
import { cacheDir, processEnv, type RawEnv } from '@parts/cli';

export { CACHE_APP_NAME } from '@parts/cli';

/**
 * Root of the download/weights cache (the project's cache folder, shared with the tuned GPU kernels):
 * $PARTS_CACHE_DIR, else $XDG_CACHE_HOME/parts-classifier, else ~/.cache/parts-classifier.
 */
export function resolveCacheDir(env: RawEnv = processEnv()): string {
  return cacheDir(env);
}

/** Folder for downloaded Keras `.h5` files. */
export function h5CacheDir(cacheDir: string): string {
  return path.join(cacheDir, 'keras-weights');
}

/** Folder for tfjs-format copies of loaded weights. */
export function tfjsCacheDir(cacheDir: string): string {
  return path.join(cacheDir, 'tfjs-weights');
}
