/**
 * Parity record: proof that a served model answers like the evaluated one. At promotion a handful
 * of photos are classified and their probabilities stored with the photos' bytes in the model
 * folder; the server re-classifies the same bytes on load (and on a hot swap) and refuses the model
 * when any probability differs by more than the tolerance.
 *
 * Files (this module is their one owner):
 *   <modelDir>/parity.json          ParityRecord, format 'parts-parity/1'
 *   <modelDir>/parity/<sha256>.<ext> each photo's original bytes (named by their SHA-256)
 * Photos are decoded by decodeImage at the classifier's size and fit and classified by
 * predictProbabilities, the same functions serve uses for an upload, so the check covers the whole
 * path from bytes to probabilities (decoder, fit, preprocessing, weights, backend kernels).
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { decodeImage } from '@parts/data';
import { predictProbabilities, type Classifier } from '../classifier';
import { writeFileAtomic } from '../model-files';

export const PARITY_FORMAT = 'parts-parity/1';
export const PARITY_JSON = 'parity.json';
export const PARITY_PHOTOS_DIR = 'parity';

/**
 * Largest allowed |Δp| per class probability. fp32 kernels of different backends (cpu, wasm, webgpu)
 * order their sums differently: wasm vs cpu differ by about 1e-7 on PartsNet (measured, see
 * docs/explain.md), so 1e-4 leaves three orders of magnitude of margin, while a changed weight, a different
 * resize or preprocessing moves probabilities by 1e-3 or more.
 */
export const PARITY_TOLERANCE = 1e-4;

/** How many photos a record takes by default (the smallest given). */
export const PARITY_PHOTOS = 6;

export interface ParityEntry {
  /** The photo's name when recorded (for messages). */
  name: string;
  /** SHA-256 of the photo's bytes, hex; also its file name under parity/. */
  sha256: string;
  /** File name under parity/. */
  file: string;
  /** Probability per label, in label order. */
  probabilities: number[];
}

export interface ParityRecord {
  format: typeof PARITY_FORMAT;
  tolerance: number;
  /** The tfjs backend that computed the probabilities. */
  backend: string;
  labels: string[];
  imgSize: number;
  fit: string;
  createdAt: string;
  entries: ParityEntry[];
}

export interface ParityCheck {
  ok: boolean;
  /** Photos compared. */
  photos: number;
  /** Largest |Δp| over photos and classes (NaN when nothing could be compared). */
  maxAbsDiff: number;
  tolerance: number;
  /** Backend of this check, and of the record. */
  backend: string;
  recordBackend: string;
  /** Why the check failed. */
  reason?: string;
}

export interface ParityPhoto {
  name: string;
  bytes: Buffer;
}

export function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.heic', '.heif']);
function photoFileName(p: ParityPhoto, sha: string): string {
  const ext = path.extname(p.name).toLowerCase();
  return `${sha}${EXTENSIONS.has(ext) ? ext : '.img'}`;
}

/** The `n` smallest photos (by byte size, then name): small files keep the model folder small. */
export function pickParityPhotos<T extends { bytes: Buffer; name: string }>(photos: readonly T[], n = PARITY_PHOTOS): T[] {
  return [...photos].sort((a, b) => a.bytes.length - b.bytes.length || a.name.localeCompare(b.name)).slice(0, n);
}

/** Probabilities of each photo through serve's path (decodeImage at the model's size and fit). */
async function probabilitiesOf(c: Classifier, photos: readonly ParityPhoto[]): Promise<Float32Array[]> {
  const images = [];
  for (const p of photos) images.push(await decodeImage(p.bytes, { size: c.meta.imgSize, fit: c.meta.fit, name: p.name }));
  // One image per call, as a server answering single uploads would.
  const out: Float32Array[] = [];
  for (const img of images) out.push(...(await predictProbabilities(c, [img], 1)));
  return out;
}

/** Classifies `photos` (all of them; pick with pickParityPhotos) and returns the record. */
export async function recordParity(c: Classifier, photos: readonly ParityPhoto[], opts: { tolerance?: number } = {}): Promise<ParityRecord> {
  if (photos.length === 0) throw new Error('recordParity: no photos');
  const tolerance = opts.tolerance ?? PARITY_TOLERANCE;
  if (!(tolerance > 0 && tolerance < 1)) throw new RangeError(`recordParity: tolerance must be in (0, 1), got ${tolerance}`);
  const seen = new Set<string>();
  const entries: ParityEntry[] = [];
  const probs = await probabilitiesOf(c, photos);
  photos.forEach((p, i) => {
    const sha = sha256Hex(p.bytes);
    if (seen.has(sha)) throw new Error(`recordParity: photo ${p.name} has the same bytes as an earlier one`);
    seen.add(sha);
    entries.push({ name: p.name, sha256: sha, file: photoFileName(p, sha), probabilities: Array.from(probs[i]) });
  });
  return {
    format: PARITY_FORMAT,
    tolerance,
    backend: tf.getBackend(),
    labels: [...c.meta.labels],
    imgSize: c.meta.imgSize,
    fit: c.meta.fit,
    createdAt: new Date().toISOString(),
    entries,
  };
}

/** Re-classifies the recorded photos with `c` and compares with the record. Never throws for a mismatch. */
export async function checkParity(c: Classifier, record: ParityRecord, photosByHash: ReadonlyMap<string, Buffer>): Promise<ParityCheck> {
  return checkParityWith(record, photosByHash, { meta: c.meta, backend: tf.getBackend(), classify: (photos) => probabilitiesOf(c, photos) });
}

/**
 * How a model that is not a Classifier in this thread (e.g. one held by a server's worker threads)
 * answers the parity photos: `classify` returns one probability row per photo, in label order,
 * computed from the photo's bytes the way the model serves an upload.
 */
export interface ParityPredictor {
  meta: { labels: readonly string[]; imgSize: number; fit: string };
  /** The backend that computes the probabilities. */
  backend: string;
  classify(photos: readonly ParityPhoto[]): Promise<ArrayLike<number>[]>;
}

/** checkParity for any predictor; never throws for a mismatch or a failed classification. */
export async function checkParityWith(record: ParityRecord, photosByHash: ReadonlyMap<string, Buffer>, p: ParityPredictor): Promise<ParityCheck> {
  const { backend, meta } = p;
  const fail = (reason: string, photos = 0, maxAbsDiff = Number.NaN): ParityCheck => ({ ok: false, photos, maxAbsDiff, tolerance: record.tolerance, backend, recordBackend: record.backend, reason });
  if (JSON.stringify(record.labels) !== JSON.stringify(meta.labels)) return fail(`labels differ: record ${JSON.stringify(record.labels)}, model ${JSON.stringify(meta.labels)}`);
  if (record.imgSize !== meta.imgSize || record.fit !== meta.fit) return fail(`input differs: record ${record.imgSize} px ${record.fit}, model ${meta.imgSize} px ${meta.fit}`);
  const photos: ParityPhoto[] = [];
  for (const e of record.entries) {
    const bytes = photosByHash.get(e.sha256);
    if (!bytes) return fail(`photo ${e.name} (${e.sha256.slice(0, 12)}…) is missing`);
    if (sha256Hex(bytes) !== e.sha256) return fail(`photo ${e.name}: its bytes do not match the recorded SHA-256`);
    photos.push({ name: e.name, bytes });
  }
  let probs: ArrayLike<number>[];
  try {
    probs = await p.classify(photos);
  } catch (err) {
    return fail(`classifying the parity photos failed: ${(err as Error).message}`);
  }
  if (probs.length !== photos.length) return fail(`classifying the parity photos gave ${probs.length} answers for ${photos.length} photos`);
  let maxAbsDiff = 0, worst = '';
  record.entries.forEach((e, i) => {
    if (e.probabilities.length !== probs[i].length) {
      maxAbsDiff = Infinity;
      worst = e.name;
      return;
    }
    e.probabilities.forEach((q, j) => {
      const d = Math.abs(q - probs[i][j]);
      if (!(d <= maxAbsDiff)) (maxAbsDiff = d), (worst = e.name);
    });
  });
  if (!(maxAbsDiff <= record.tolerance)) {
    return fail(`probabilities differ from the record by ${maxAbsDiff.toExponential(2)} (photo ${worst}), above the tolerance ${record.tolerance}`, photos.length, maxAbsDiff);
  }
  return { ok: true, photos: photos.length, maxAbsDiff, tolerance: record.tolerance, backend, recordBackend: record.backend };
}

/**
 * Writes the photos (parity/<sha>.<ext>) and then parity.json into `modelDir`, each file atomically.
 * parity.json goes last, so a reader never finds a record whose photos are not all there yet.
 */
export async function writeParity(modelDir: string, record: ParityRecord, photos: readonly ParityPhoto[]): Promise<void> {
  const byHash = new Map(photos.map((p) => [sha256Hex(p.bytes), p.bytes]));
  for (const e of record.entries) {
    const bytes = byHash.get(e.sha256);
    if (!bytes) throw new Error(`writeParity: the bytes of recorded photo ${e.name} were not given`);
    await writeFileAtomic(path.join(modelDir, PARITY_PHOTOS_DIR, e.file), bytes);
  }
  await writeFileAtomic(path.join(modelDir, PARITY_JSON), `${JSON.stringify(record, null, 2)}\n`);
}

function validateRecord(r: unknown, file: string): ParityRecord {
  const problems: string[] = [];
  const rec = r as Partial<ParityRecord> | null;
  if (rec?.format !== PARITY_FORMAT) problems.push(`format must be '${PARITY_FORMAT}' (got ${JSON.stringify(rec?.format)})`);
  if (typeof rec?.tolerance !== 'number' || !(rec.tolerance > 0 && rec.tolerance < 1)) problems.push('tolerance must be a number in (0, 1)');
  if (typeof rec?.backend !== 'string') problems.push('backend must be a string');
  if (!Array.isArray(rec?.labels) || rec.labels.length < 2) problems.push('labels must list at least 2 classes');
  if (!Number.isInteger(rec?.imgSize)) problems.push('imgSize must be an integer');
  if (typeof rec?.fit !== 'string') problems.push('fit must be a string');
  if (!Array.isArray(rec?.entries) || rec.entries.length === 0) problems.push('entries must list at least one photo');
  else
    rec.entries.forEach((e, i) => {
      if (typeof e?.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) problems.push(`entries[${i}].sha256 must be 64 hex digits`);
      if (typeof e?.file !== 'string' || path.basename(e.file) !== e.file || !e.file.startsWith(e.sha256 ?? '')) problems.push(`entries[${i}].file must be a plain file name starting with its sha256`);
      if (!Array.isArray(e?.probabilities) || !e.probabilities.every((p) => typeof p === 'number' && p >= 0 && p <= 1)) problems.push(`entries[${i}].probabilities must be numbers in [0, 1]`);
    });
  if (problems.length) throw new Error(`invalid parity record ${file}: ${problems.join('; ')}`);
  return rec as ParityRecord;
}

/**
 * Reads parity.json and its photos from a model folder. Returns null when the folder has no
 * parity.json; throws naming the file for an unreadable or invalid record or a missing photo.
 */
export async function readParity(modelDir: string): Promise<{ record: ParityRecord; photos: Map<string, Buffer> } | null> {
  const file = path.join(modelDir, PARITY_JSON);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`cannot parse ${file}: ${(e as Error).message}`);
  }
  const record = validateRecord(parsed, file);
  const photos = new Map<string, Buffer>();
  for (const e of record.entries) {
    const photo = path.join(modelDir, PARITY_PHOTOS_DIR, e.file);
    try {
      photos.set(e.sha256, await fs.readFile(photo));
    } catch (err) {
      throw new Error(`parity photo ${photo} of ${file} cannot be read: ${(err as Error).message}`);
    }
  }
  return { record, photos };
}

/**
 * What serve runs on load and hot swap: read the model folder's record and check it. A folder
 * without parity.json gives ok false with the reason; the caller decides whether that blocks.
 */
export async function checkParityDir(c: Classifier): Promise<ParityCheck> {
  let read: Awaited<ReturnType<typeof readParity>>;
  try {
    read = await readParity(c.dir);
  } catch (e) {
    return { ok: false, photos: 0, maxAbsDiff: Number.NaN, tolerance: PARITY_TOLERANCE, backend: tf.getBackend(), recordBackend: '', reason: (e as Error).message };
  }
  if (!read) return { ok: false, photos: 0, maxAbsDiff: Number.NaN, tolerance: PARITY_TOLERANCE, backend: tf.getBackend(), recordBackend: '', reason: `no ${PARITY_JSON} in ${c.dir}` };
  return checkParity(c, read.record, read.photos);
}
