import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
// Loaded on first use: importing h5wasm's Node build reserves about 600 MB of wasm memory at once,
// which every process importing @parts/models (serve, predict) would otherwise hold.
import type h5wasmModule from 'h5wasm/node';

/** One stored weight: its Keras name (e.g. `conv1/kernel:0`), values (row-major) and shape. */
export interface H5Weight {
  name: string;
  values: Float32Array;
  shape: number[];
}

/** Layer name → its weights in the stored order, for every layer of the file in `layer_names` order. */
export type KerasH5Weights = Map<string, H5Weight[]>;

type H5Group = InstanceType<typeof h5wasmModule.Group>;
type H5Dataset = InstanceType<typeof h5wasmModule.Dataset>;

let h5wasm: typeof h5wasmModule;
let ready: Promise<unknown> | undefined;
function h5(): Promise<unknown> {
  ready ??= import('h5wasm/node').then((m) => {
    h5wasm = m.default;
    return h5wasm.ready;
  });
  return ready;
}

/**
 * Reads a Keras 2 HDF5 weights file: root attribute `layer_names`, per layer group attribute
 * `weight_names`, values at `<layer>/<weight_name>`. Full-model files (weights under `model_weights/`)
 * and weights-only files (`save_weights`, the `*_notop.h5` application files) are both accepted.
 * Layers without weights are present with an empty list; values are converted to float32.
 */
export async function readKerasH5Weights(file: string): Promise<KerasH5Weights> {
  await fs.access(file).catch(() => {
    throw new Error(`weights file ${file} does not exist or is not readable`);
  });
  await h5();
  let f: InstanceType<typeof h5wasmModule.File>;
  try {
    f = new h5wasm.File(file, 'r');
  } catch (e) {
    throw new Error(`${file} is not a readable HDF5 file (${(e as Error).message})`);
  }
  // h5wasm does not throw on a failed open: it returns a negative file id.
  if (f.file_id < 0n) throw new Error(`${file} is not a readable HDF5 file`);
  try {
    let root: H5Group = f;
    if (readStringListAttr(f, 'layer_names') === undefined) {
      const mw = f.get('model_weights');
      if (mw instanceof h5wasm.Group) root = mw;
    }
    const layerNames = readStringListAttr(root, 'layer_names');
    if (layerNames === undefined) {
      if (f.keys().includes('layers') || f.keys().includes('vars')) {
        throw new Error(`${file} is in the Keras 3 '.weights.h5' layout; only the Keras 2 HDF5 layout (layer_names/weight_names) is supported`);
      }
      throw new Error(`${file} is not a Keras weights file: no 'layer_names' attribute at / or /model_weights`);
    }
    const out: KerasH5Weights = new Map();
    for (const layer of layerNames) {
      const g = root.get(layer);
      if (!(g instanceof h5wasm.Group)) throw new Error(`${file}: layer '${layer}' is listed in layer_names but its group is missing`);
      const weightNames = readStringListAttr(g, 'weight_names') ?? [];
      const weights: H5Weight[] = [];
      for (const wn of weightNames) {
        const ds = g.get(wn);
        if (!(ds instanceof h5wasm.Dataset)) throw new Error(`${file}: weight '${layer}/${wn}' is listed in weight_names but missing`);
        weights.push({ name: wn, values: toFloat32(ds, `${file}:${layer}/${wn}`), shape: [...(ds.shape ?? [])] });
      }
      out.set(layer, weights);
    }
    return out;
  } finally {
    f.close();
  }
}

/**
 * Writes the weights of `model` in the Keras 2 `save_weights` HDF5 layout (what `readKerasH5Weights` and
 * Keras `model.load_weights(path)` read): one group per layer of `model.layers` in order, weights in
 * `layer.weights` order (trainable then non-trainable, as Keras) named `<variable name>:0`.
 * Written to a temp file and renamed into place.
 */
export async function writeKerasH5Weights(model: tfl.LayersModel, file: string): Promise<void> {
  await h5();
  const dir = path.dirname(path.resolve(file));
  await fs.mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const layers = model.layers;
  const seen = new Set<string>();
  for (const l of layers) {
    if (seen.has(l.name)) throw new Error(`cannot write ${file}: two layers are named '${l.name}'`);
    seen.add(l.name);
  }
  let ok = false;
  try {
    const f = new h5wasm.File(tmp, 'w');
    try {
      writeStringListAttr(f, 'layer_names', layers.map((l) => l.name));
      // Scalar fixed-length byte strings, as h5py writes them for Keras (old Keras calls .decode() on these).
      f.create_attribute('backend', 'tensorflow', null, 'S10');
      f.create_attribute('keras_version', '2.15.0', null, 'S6');
      for (const layer of layers) {
        const g = f.create_group(layer.name);
        const names = uniqueWeightNames(layer);
        writeStringListAttr(g, 'weight_names', names);
        // getWeights() returns the variables' own tensors (not copies): never dispose them.
        const values = layer.getWeights();
        names.forEach((name, i) => {
          const t = values[i];
          const parts = name.split('/');
          let parent: H5Group = g;
          for (const p of parts.slice(0, -1)) {
            const existing = parent.get(p);
            parent = existing instanceof h5wasm.Group ? existing : parent.create_group(p);
          }
          parent.create_dataset({
            name: parts[parts.length - 1],
            data: t.dataSync() as Float32Array,
            shape: t.shape.length ? t.shape : null,
            dtype: '<f',
          });
        });
      }
    } finally {
      f.close();
    }
    await fs.rename(tmp, file);
    ok = true;
  } finally {
    if (!ok) await fs.rm(tmp, { force: true });
  }
}

/** `<variable name>:0` like TF variables in Keras files; suffixed when a layer holds two equal names. */
function uniqueWeightNames(layer: tfl.layers.Layer): string[] {
  const used = new Set<string>();
  return layer.weights.map((w) => {
    // originalName is scoped by the layer name ("conv1/kernel"); guard against an unscoped one.
    const base = w.originalName.includes('/') ? w.originalName : `${layer.name}/${w.originalName}`;
    let name = `${base}:0`;
    for (let k = 1; used.has(name); k++) name = `${base}_${k}:0`;
    used.add(name);
    return name;
  });
}

// HDF5 limits an attribute's object header to 64 KiB; Keras splits longer lists into name0, name1, ...
const ATTR_CHUNK_BYTES = 64_000;

function readStringListAttr(g: H5Group, name: string): string[] | undefined {
  const attrs = g.attrs;
  if (name in attrs) return toStringList(attrs[name].value);
  if (!(`${name}0` in attrs)) return undefined;
  const out: string[] = [];
  for (let i = 0; `${name}${i}` in attrs; i++) out.push(...toStringList(attrs[`${name}${i}`].value));
  return out;
}

function toStringList(v: unknown): string[] {
  if (v === null || v === undefined) return [];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.map((x) => (x instanceof Uint8Array ? new TextDecoder().decode(x) : String(x)));
  // Keras stores `np.asarray([])` for a layer without weights: an empty float64 array, not strings.
  if (ArrayBuffer.isView(v) && (v as unknown as ArrayLike<unknown>).length === 0) return [];
  throw new Error(`expected a list of strings in an HDF5 attribute, got ${Object.prototype.toString.call(v)}`);
}

function writeStringListAttr(g: H5Group, name: string, list: string[]): void {
  // Fixed-length byte strings like h5py/numpy 'S' arrays, which is what Keras writes.
  const width = Math.max(1, ...list.map((s) => Buffer.byteLength(s)));
  const perChunk = Math.max(1, Math.floor(ATTR_CHUNK_BYTES / width));
  if (list.length <= perChunk) {
    g.create_attribute(name, list, [list.length], `S${width}`);
    return;
  }
  for (let i = 0, c = 0; i < list.length; i += perChunk, c++) {
    const part = list.slice(i, i + perChunk);
    g.create_attribute(`${name}${c}`, part, [part.length], `S${width}`);
  }
}

function toFloat32(ds: H5Dataset, where: string): Float32Array {
  const v: unknown = ds.value;
  if (v instanceof Float32Array) return v;
  if (typeof v === 'number' || typeof v === 'bigint') return Float32Array.of(Number(v));
  if (v instanceof Float64Array || v instanceof Int32Array || v instanceof Uint32Array || v instanceof Int16Array ||
      v instanceof Uint16Array || v instanceof Int8Array || v instanceof Uint8Array) {
    if (ds.dtype === '<e' || ds.dtype === '>e') throw new Error(`${where}: float16 weights are not supported`);
    return Float32Array.from(v);
  }
  // e.g. the int64 `count` of a Keras Normalization layer
  if (v instanceof BigInt64Array || v instanceof BigUint64Array) return Float32Array.from(v, (x) => Number(x));
  throw new Error(`${where}: unsupported dataset type ${String(ds.dtype)}`);
}
