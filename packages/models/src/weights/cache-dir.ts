import os from 'node:os';
import path from 'node:path';

/** Name of the folder this project uses under the user's cache directory. */
export const CACHE_APP_NAME = 'parts-classifier';

/**
 * Root of the download/weights cache:
 * $PARTS_CACHE_DIR, else $XDG_CACHE_HOME/parts-classifier, else ~/.cache/parts-classifier.
 * Empty variables count as unset (a stray `PARTS_CACHE_DIR=` must not mean the working directory).
 */
export function resolveCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.PARTS_CACHE_DIR?.trim();
  if (explicit) return path.resolve(explicit);
  const xdg = env.XDG_CACHE_HOME?.trim();
  // The XDG spec says relative values are invalid and must be ignored.
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, CACHE_APP_NAME);
  return path.join(os.homedir(), '.cache', CACHE_APP_NAME);
}

/** Folder for downloaded Keras `.h5` files. */
export function h5CacheDir(cacheDir: string): string {
  return path.join(cacheDir, 'keras-weights');
}

/** Folder for tfjs-format copies of loaded weights. */
export function tfjsCacheDir(cacheDir: string): string {
  return path.join(cacheDir, 'tfjs-weights');
}
