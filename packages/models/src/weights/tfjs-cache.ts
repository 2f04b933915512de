import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { resolveCacheDir, tfjsCacheDir } from './cache-dir';
import type { KerasH5Weights } from './keras-h5';
import { assignWeights, type LoadWeightsResult } from './load';

/**
 * tfjs-format copy of a base's loaded weights (weights.bin + weights.json with a standard tfjs
 * `weightsManifest`), so later runs skip HDF5 parsing. Keyed by architecture and the md5 of the source
 * `.h5`, not by input size: a notop base's weights do not depend on the image size.
 */
export interface CachedWeightsKey {
  arch: string;
  /** md5 of the `.h5` the weights came from. */
  md5: string;
  /** Cache root; defaults to `resolveCacheDir()`. */
  cacheDir?: string;
}

const FORMAT = 'parts-tfjs-weights';
const VERSION = 1;
const MANIFEST = 'weights.json';
const BIN = 'weights.bin';

interface CacheManifest {
  format: typeof FORMAT;
  version: number;
  arch: string;
  md5: string;
  source?: string;
  /** Model layers with weights, in topological order, and how many weights each has. */
  layers: { name: string; weights: number }[];
  weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: 'float32' }[] }[];
}

/** Folder holding the tfjs copy for a key: `<cacheDir>/tfjs-weights/<arch>-<md5>`. */
export function cachedWeightsDir(key: CachedWeightsKey): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(key.arch)) throw new Error(`invalid arch name for the weights cache: '${key.arch}'`);
  if (!/^[0-9a-f]{32}$/i.test(key.md5)) throw new Error(`invalid md5 for the weights cache: '${key.md5}'`);
  return path.join(tfjsCacheDir(key.cacheDir ?? resolveCacheDir()), `${key.arch}-${key.md5.toLowerCase()}`);
}

/**
 * Writes `model`'s weights to the tfjs cache for `key`, atomically (temp folder + rename); replaces a
 * stale copy. Returns the folder.
 */
export async function saveCachedBaseWeights(
  model: tfl.LayersModel,
  key: CachedWeightsKey & { source?: string },
): Promise<string> {
  const dir = cachedWeightsDir(key);
  const layers = model.layers.filter((l) => l.weights.length > 0);
  const specs: CacheManifest['weightsManifest'][0]['weights'] = [];
  const chunks: Buffer[] = [];
  for (const layer of layers) {
    // getWeights() returns the variables' own tensors (not copies): never dispose them.
    layer.getWeights().forEach((t, i) => {
      specs.push({ name: `${layer.name}/${i}`, shape: t.shape, dtype: 'float32' });
      const data = t.dataSync() as Float32Array;
      chunks.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    });
  }
  const manifest: CacheManifest = {
    format: FORMAT,
    version: VERSION,
    arch: key.arch,
    md5: key.md5.toLowerCase(),
    source: key.source,
    layers: layers.map((l) => ({ name: l.name, weights: l.weights.length })),
    weightsManifest: [{ paths: [BIN], weights: specs }],
  };
  await fs.mkdir(path.dirname(dir), { recursive: true });
  const tmp = `${dir}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await fs.mkdir(tmp);
  try {
    await fs.writeFile(path.join(tmp, BIN), Buffer.concat(chunks));
    // Manifest last: a folder with a manifest is complete (the rename below makes that atomic anyway).
    await fs.writeFile(path.join(tmp, MANIFEST), JSON.stringify(manifest));
    await fs.rm(dir, { recursive: true, force: true });
    try {
      await fs.rename(tmp, dir);
    } catch (e) {
      // Another process saved the same key between rm and rename: keep theirs.
      if (!['ENOTEMPTY', 'EEXIST'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
    }
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
  return dir;
}

/**
 * Loads the tfjs cache for `key` into `model`. Returns undefined (a cache miss, reason passed to `log`)
 * when there is no copy or it no longer fits the model (layer names, counts or shapes changed), so the
 * caller falls back to the `.h5`.
 */
export async function loadCachedBaseWeights(
  model: tfl.LayersModel,
  key: CachedWeightsKey,
  log: (message: string) => void = () => {},
): Promise<LoadWeightsResult | undefined> {
  const dir = cachedWeightsDir(key);
  let manifest: CacheManifest;
  try {
    manifest = JSON.parse(await fs.readFile(path.join(dir, MANIFEST), 'utf8')) as CacheManifest;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log(`ignoring unreadable weights cache ${dir}: ${(e as Error).message}`);
    return undefined;
  }
  if (manifest.format !== FORMAT || manifest.version !== VERSION || manifest.md5 !== key.md5.toLowerCase()) {
    log(`ignoring weights cache ${dir}: different format or source`);
    return undefined;
  }
  const modelLayers = model.layers.filter((l) => l.weights.length > 0);
  const sameLayers =
    modelLayers.length === manifest.layers.length &&
    modelLayers.every((l, i) => l.name === manifest.layers[i].name && l.weights.length === manifest.layers[i].weights);
  if (!sameLayers) {
    log(`ignoring weights cache ${dir}: it was saved for a model with other layers`);
    return undefined;
  }
  const bin = await fs.readFile(path.join(dir, BIN));
  const specs = manifest.weightsManifest[0]?.weights ?? [];
  if (specs.length !== manifest.layers.reduce((n, l) => n + l.weights, 0)) {
    log(`ignoring weights cache ${dir}: manifest lists ${specs.length} weights, layers need another count`);
    return undefined;
  }
  const expectedBytes = specs.reduce((s, w) => s + 4 * w.shape.reduce((a, b) => a * b, 1), 0);
  if (bin.byteLength !== expectedBytes) {
    log(`ignoring weights cache ${dir}: ${BIN} has ${bin.byteLength} bytes, expected ${expectedBytes}`);
    return undefined;
  }
  // Copy into an aligned buffer: Buffer pools may give an offset that is not a multiple of 4.
  const all = new Float32Array(new Uint8Array(bin).buffer);
  const map: KerasH5Weights = new Map();
  let offset = 0;
  let s = 0;
  for (const layer of manifest.layers) {
    const list = [];
    for (let i = 0; i < layer.weights; i++, s++) {
      const spec = specs[s];
      const size = spec.shape.reduce((a, b) => a * b, 1);
      list.push({ name: spec.name, shape: spec.shape, values: all.subarray(offset, offset + size) });
      offset += size;
    }
    map.set(layer.name, list);
  }
  try {
    return assignWeights(model, map, dir);
  } catch (e) {
    log(`ignoring weights cache ${dir}: ${(e as Error).message}`);
    return undefined;
  }
}
