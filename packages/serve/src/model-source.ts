import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLASSIFIER_JSON, readClassifierFile, resolveModelDir as resolveClassifierDir, type ClassifierMeta } from '@parts/models';

/**
 * The model folder on disk (`packages/serve/model`, or a run's `model/`) and private,
 * immutable snapshots of it. The server never loads straight from the watched folder:
 * promotion replaces that folder by renames, so each model is first copied into a temp
 * snapshot whose content cannot change under the workers that load it.
 */

export interface ModelInfo {
  /** runId from classifier.json (or the card), else `sha-<12 hex>` of the files. */
  id: string;
  arch: string;
  mode: string;
  labels: string[];
  imgSize: number;
  fit: string;
  preprocess: string;
  /** The per-photo light normalisation applied before the network ('none' for models recorded without one). */
  lightNorm: string;
  /** sha256 over every file of the folder (name + bytes). */
  sha256: string;
  /** Which file the card came from. */
  source: 'model-card.json' | typeof CLASSIFIER_JSON;
  /** The raw card (model-card.json, else classifier.json). */
  card: Record<string, unknown>;
  meta: ClassifierMeta;
}

export interface Snapshot {
  dir: string;
  info: ModelInfo;
  /** Signature of the source folder the snapshot was taken from. */
  signature: string;
}

async function exists(p: string): Promise<boolean> {
  return fsp.stat(p).then(
    () => true,
    () => false,
  );
}

/** A model folder, or a run folder holding `model/` (as loadClassifier accepts); absolute. */
export async function resolveModelDir(dir: string): Promise<string> {
  return path.resolve(await resolveClassifierDir(path.resolve(dir)));
}

/**
 * Cheap change detector: inode, size and mtime of the folder's files, and of the files of its
 * subfolders (parity/). Promotion renames a new folder into place, so inodes change even when
 * sizes and mtimes happen to match. Returns null while the folder is missing (mid-swap).
 */
export async function modelSignature(dir: string): Promise<string | null> {
  try {
    const parts: string[] = [];
    const walk = async (rel: string): Promise<void> => {
      for (const n of (await fsp.readdir(path.join(dir, rel))).sort()) {
        const name = rel ? `${rel}/${n}` : n;
        const s = await fsp.stat(path.join(dir, name));
        if (s.isFile()) parts.push(`${name}:${s.ino}:${s.size}:${s.mtimeMs}`);
        else if (s.isDirectory() && !rel) await walk(name);
      }
    };
    await walk('');
    return parts.join('|');
  } catch {
    return null;
  }
}

async function readJson(file: string): Promise<Record<string, unknown>> {
  const text = await fsp.readFile(file, 'utf8');
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${file}: invalid JSON (${(e as Error).message})`);
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** Reads classifier.json (required, checked by @parts/models) and model-card.json (optional) of a folder. */
export async function readModelInfo(dir: string): Promise<ModelInfo> {
  const meta = await readClassifierFile(path.join(dir, CLASSIFIER_JSON));
  const cardFile = path.join(dir, 'model-card.json');
  const hasCard = await exists(cardFile);
  const card = hasCard ? await readJson(cardFile) : (meta as unknown as Record<string, unknown>);

  const hash = createHash('sha256');
  for (const n of (await fsp.readdir(dir)).sort()) {
    const p = path.join(dir, n);
    if (!(await fsp.stat(p)).isFile()) continue;
    hash.update(n).update('\0').update(await fsp.readFile(p));
  }
  const sha256 = hash.digest('hex');
  const id = str(meta.runId) ?? str(card.runId) ?? str(card.id) ?? `sha-${sha256.slice(0, 12)}`;
  return {
    id,
    arch: meta.arch,
    mode: meta.mode,
    labels: meta.labels,
    imgSize: meta.imgSize,
    fit: meta.fit,
    preprocess: meta.preprocess,
    lightNorm: meta.lightNorm ?? 'none',
    sha256,
    source: hasCard ? 'model-card.json' : CLASSIFIER_JSON,
    card,
    meta,
  };
}

/**
 * Copies the model folder into a fresh temp folder. Throws if the source changed while
 * being copied (a promotion in progress) so the caller can retry on the next poll.
 */
export async function snapshotModel(sourceDir: string): Promise<Snapshot> {
  const before = await modelSignature(sourceDir);
  if (before === null || before === '') throw new Error(`model folder ${sourceDir} is missing or empty`);
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'parts-serve-model-'));
  try {
    for (const n of await fsp.readdir(sourceDir)) {
      const p = path.join(sourceDir, n);
      const st = await fsp.stat(p);
      if (st.isFile()) await fsp.copyFile(p, path.join(dir, n));
      // Subfolders (parity/ with the parity photos) come along; the snapshot must hold what was checked.
      else if (st.isDirectory()) await fsp.cp(p, path.join(dir, n), { recursive: true });
    }
    const after = await modelSignature(sourceDir);
    if (after !== before) throw new Error(`model folder ${sourceDir} changed while it was being copied`);
    return { dir, info: await readModelInfo(dir), signature: before };
  } catch (e) {
    await fsp.rm(dir, { recursive: true, force: true });
    throw e;
  }
}

export async function removeSnapshot(s: Snapshot): Promise<void> {
  await fsp.rm(s.dir, { recursive: true, force: true });
}
