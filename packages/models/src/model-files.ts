// Reading and writing tfjs layers models on the local file system without tfjs-node
// (whose file:// handler needs libtensorflow). Writes are atomic: a folder is built
// beside the target and renamed into place, so a killed process never leaves half a model.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

/** Serialises a model into {model.json, weights.bin} buffers (in memory). */
export async function modelArtifacts(model: tfl.LayersModel): Promise<{ modelJson: string; weights: Buffer }> {
  let captured: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      captured = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!captured) throw new Error('model.save produced no artifacts');
  const weightData = captured.weightData
    ? tf.io.CompositeArrayBuffer.join(captured.weightData)
    : new ArrayBuffer(0);
  const modelJson = JSON.stringify({
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tfl.version_layers}`,
    convertedBy: null,
    modelTopology: captured.modelTopology,
    weightsManifest: [{ paths: [WEIGHTS_BIN], weights: captured.weightSpecs ?? [] }],
  });
  return { modelJson, weights: Buffer.from(weightData) };
}

/** Writes files into a fresh sibling temp folder, then swaps it in for `dir`. */
export async function writeDirAtomic(dir: string, files: Record<string, string | Buffer>): Promise<void> {
  const parent = path.dirname(path.resolve(dir));
  await fs.mkdir(parent, { recursive: true });
  const tmp = path.join(parent, `.tmp-${path.basename(dir)}-${randomBytes(4).toString('hex')}`);
  await fs.mkdir(tmp);
  try {
    for (const [name, content] of Object.entries(files)) {
      await fs.writeFile(path.join(tmp, name), content);
    }
    await replaceDir(tmp, dir);
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Moves a complete folder `src` to `dest`. An existing `dest` is moved aside first and removed
 * only after the rename succeeded: `dest` is never a half-written folder, though for the instant
 * between the two renames it is absent (a rename over a non-empty directory is not allowed on
 * POSIX, and Node has no atomic exchange).
 */
export async function replaceDir(src: string, dest: string): Promise<void> {
  const aside = `${dest}.old-${randomBytes(4).toString('hex')}`;
  let hadOld = false;
  try {
    await fs.rename(dest, aside);
    hadOld = true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  try {
    await fs.rename(src, dest);
  } catch (e) {
    // Put the old folder back; if even that fails, report both, the first error first.
    if (hadOld) await fs.rename(aside, dest).catch((undo: Error) => {
      throw new AggregateError([e, undo], `${(e as Error).message}; and restoring ${dest} from ${aside} failed: ${undo.message}`);
    });
    throw e;
  }
  if (hadOld) await fs.rm(aside, { recursive: true, force: true });
}

/** Writes one file atomically (temp file in the same folder + rename). */
export async function writeFileAtomic(file: string, content: string | Buffer): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${randomBytes(4).toString('hex')}`;
  try {
    await fs.writeFile(tmp, content);
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/** Reads and parses a JSON file; the error names the file and says whether it is missing or not JSON. */
export async function readJsonFile<T>(file: string): Promise<T> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

export async function saveLayersModel(model: tfl.LayersModel, dir: string, extra: Record<string, string | Buffer> = {}): Promise<void> {
  const { modelJson, weights } = await modelArtifacts(model);
  await writeDirAtomic(dir, { [MODEL_JSON]: modelJson, [WEIGHTS_BIN]: weights, ...extra });
}

export async function loadLayersModel(dir: string): Promise<tfl.LayersModel> {
  const jsonPath = path.join(dir, MODEL_JSON);
  let parsed: { modelTopology?: object; weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
  try {
    parsed = JSON.parse(await fs.readFile(jsonPath, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read model ${jsonPath}: ${(e as Error).message}`);
  }
  if (!parsed.modelTopology || !Array.isArray(parsed.weightsManifest)) {
    throw new Error(`${jsonPath} is not a tfjs layers model (modelTopology or weightsManifest missing)`);
  }
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Buffer[] = [];
  for (const group of parsed.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      const file = path.join(dir, p);
      buffers.push(await fs.readFile(file).catch((e) => {
        throw new Error(`cannot read weights ${file}: ${(e as Error).message}`);
      }));
    }
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  return tfl.loadLayersModel(
    tf.io.fromMemory({ modelTopology: parsed.modelTopology, weightSpecs: specs, weightData }),
  );
}
