/**
 * The one owner of a model folder's OOD files: `ood.json` (versioned metadata, format 'parts-ood/2';
 * 'parts-ood/1' files, which have no silhouette part, are still read) and `ood-<sha256 prefix>.bin`
 * (the scorers' float32 arrays, little-endian, concatenated).
 *
 * ood.json:
 *   format       'parts-ood/1'
 *   method       'msp' | 'energy' | 'mahalanobis' | 'knn'
 *   threshold    accept as known when score >= threshold (higher score = more in-distribution)
 *   acceptRate   share of known photos the threshold was set to accept (e.g. 0.95; fittedOn.thresholdRule says how)
 *   temperature  temperature-scaling T for the displayed probabilities (1 = none)
 *   featureDim, numClasses, labels   what the scorer was fitted on; checked against the model
 *   params       the scorer's scalars (k, shrinkage, energy temperature, ...)
 *   arrays       name -> {shape, offset (in float32 values), length} inside the .bin
 *   bin          {file, bytes, sha256} or null when the method has no arrays (msp, energy)
 *   fittedOn     {n, split, thresholdN, thresholdSplit, thresholdRule?, thresholdGroups?, thresholdScores?}: what the scorer and the threshold saw
 *   calibration  optional {eceBefore, eceAfter, nllBefore, nllAfter, n, split}
 *   silhouette   (parts-ood/2) {threshold, acceptRate, k, options, features, fittedOn} or null; its
 *                arrays are `silhouette.mean`, `silhouette.scale`, `silhouette.bank` in the .bin.
 *                A photo is unknown when either scorer rejects it.
 *   silhouetteNote  (parts-ood/2, optional) why there is no silhouette part (switched off, or the
 *                fit photos' silhouettes were not consistent)
 *
 * Writes are atomic: the .bin is named by its content hash and written (temp + rename) before
 * ood.json (temp + rename), then stale .bin files are removed; a reader always sees a matching pair.
 * A missing ood.json means "no scorer" (readOodFile returns null); every other problem throws an
 * error naming the file and the field.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../model-files';
import { SILHOUETTE_FEATURE_NAMES, SILHOUETTE_FEATURES, type SilhouetteFeature } from '@parts/data';
import type { ThresholdChoice } from './threshold';
import { isOodMethod, OOD_METHODS, scorerFromState, type OodMethod, type OodScorer, type ScorerState } from './scorers';
import { silhouetteScorerFromState, type SilhouettePart } from './silhouette-scorer';

export const OOD_JSON = 'ood.json';
/** The format written. */
export const OOD_FORMAT = 'parts-ood/2';
/** The formats read: parts-ood/1 is parts-ood/2 without a silhouette part. */
export const OOD_FORMATS_READ = ['parts-ood/1', 'parts-ood/2'] as const;
const SIL = 'silhouette.';

export interface OodSilhouetteJson {
  threshold: number;
  acceptRate: number;
  k: number;
  /** ignoreLetterbox is absent in files written before it existed: those measured the whole frame. */
  options: { darkRatio: number; backgroundRadius: number; minArea: number; ignoreLetterbox?: boolean };
  /** Names of the shape features, in the order of the stored mean/scale/bank columns (older files: all of SILHOUETTE_FEATURE_NAMES, `paper` included). */
  features: string[];
  fittedOn: SilhouettePart['fittedOn'];
}

export interface OodFittedOn {
  /** Training photos the scorer was fitted on. */
  n: number;
  split: string;
  /** Known photos the threshold was chosen on (validation / CV folds, never test). */
  thresholdN: number;
  thresholdSplit: string;
  /** How the threshold was chosen from those photos' scores (chooseThreshold); absent in files written before it was recorded. */
  thresholdRule?: ThresholdChoice['rule'];
  /** The near-duplicate groups those photos make up, which the confidence bound counts; absent when each photo is its own. */
  thresholdGroups?: number;
  /**
   * Mean and standard deviation of the feature scores of those photos: what a server's drift check
   * compares the mean score of its recent answers with. Absent in files written before it was recorded.
   */
  thresholdScores?: { mean: number; sd: number };
}

export interface OodCalibrationSummary {
  n: number;
  split: string;
  eceBefore: number;
  eceAfter: number;
  nllBefore: number;
  nllAfter: number;
  /** The temperature fit ran to the end of its search range (see TemperatureFit.atBound); T = 1 was kept. */
  temperatureAtBound?: boolean;
}

export interface OodJson {
  format: (typeof OOD_FORMATS_READ)[number];
  method: OodMethod;
  threshold: number;
  acceptRate: number;
  temperature: number;
  featureDim: number;
  numClasses: number;
  labels: string[];
  params: Record<string, number | string>;
  arrays: Record<string, { shape: number[]; offset: number; length: number }>;
  bin: { file: string; bytes: number; sha256: string } | null;
  fittedOn: OodFittedOn;
  calibration?: OodCalibrationSummary;
  silhouette?: OodSilhouetteJson | null;
  silhouetteNote?: string;
}

/** A fitted detector: scorer, threshold and calibration temperature, as stored in a model folder. */
export interface OodDetector {
  scorer: OodScorer;
  method: OodMethod;
  threshold: number;
  acceptRate: number;
  temperature: number;
  labels: string[];
  fittedOn: OodFittedOn;
  calibration?: OodCalibrationSummary;
  /** The shape scorer; a photo is unknown when either this or `scorer` rejects it. */
  silhouette?: SilhouettePart;
  /** Why there is no silhouette part (switched off, or inconsistent silhouettes in the fit photos). */
  silhouetteNote?: string;
}

/** Writes ood.json (+ its .bin) into `dir` atomically. */
export async function writeOodFile(dir: string, det: OodDetector): Promise<void> {
  const st = det.scorer.state;
  if (det.labels.length !== st.numClasses) throw new Error(`${OOD_JSON}: ${det.labels.length} labels for a scorer of ${st.numClasses} classes`);
  if (!Number.isFinite(det.threshold)) throw new Error(`${OOD_JSON}: threshold must be finite (got ${det.threshold})`);
  if (!(det.temperature > 0)) throw new Error(`${OOD_JSON}: temperature must be > 0 (got ${det.temperature})`);
  const arrays: OodJson['arrays'] = {};
  let offset = 0;
  const parts: Float32Array[] = [];
  const sil = det.silhouette;
  if (sil && !Number.isFinite(sil.threshold)) throw new Error(`${OOD_JSON}: silhouette threshold must be finite (got ${sil.threshold})`);
  const all: [string, { shape: number[]; data: Float32Array }][] = Object.entries(st.arrays);
  if (sil) {
    const ss = sil.scorer.state;
    const d = (ss.features ?? SILHOUETTE_FEATURES).length;
    all.push([`${SIL}mean`, { shape: [d], data: ss.mean }], [`${SIL}scale`, { shape: [d], data: ss.scale }], [`${SIL}bank`, { shape: [ss.bank.length / d, d], data: ss.bank }]);
  }
  for (const [name, a] of all) {
    arrays[name] = { shape: a.shape, offset, length: a.data.length };
    parts.push(a.data);
    offset += a.data.length;
  }
  let bin: OodJson['bin'] = null;
  if (parts.length) {
    const buf = Buffer.alloc(offset * 4);
    let o = 0;
    for (const p of parts) {
      for (let i = 0; i < p.length; i++) buf.writeFloatLE(p[i], (o + i) * 4);
      o += p.length;
    }
    const sha256 = createHash('sha256').update(buf).digest('hex');
    bin = { file: `ood-${sha256.slice(0, 16)}.bin`, bytes: buf.length, sha256 };
    await writeFileAtomic(path.join(dir, bin.file), buf);
  }
  const json: OodJson = {
    format: OOD_FORMAT,
    method: st.method,
    threshold: det.threshold,
    acceptRate: det.acceptRate,
    temperature: det.temperature,
    featureDim: st.featureDim,
    numClasses: st.numClasses,
    labels: det.labels,
    params: st.params,
    arrays,
    bin,
    fittedOn: det.fittedOn,
    ...(det.calibration ? { calibration: det.calibration } : {}),
    silhouette: sil
      ? {
          threshold: sil.threshold,
          acceptRate: sil.acceptRate,
          k: sil.scorer.state.k,
          options: { ...sil.scorer.state.options },
          features: [...(sil.scorer.state.features ?? SILHOUETTE_FEATURES)],
          fittedOn: sil.fittedOn,
        }
      : null,
    ...(det.silhouetteNote ? { silhouetteNote: det.silhouetteNote } : {}),
  };
  await writeFileAtomic(path.join(dir, OOD_JSON), JSON.stringify(json, null, 2) + '\n');
  // Stale .bin files of earlier fits.
  for (const f of await fs.readdir(dir)) {
    if (/^ood-[0-9a-f]{16}\.bin$/.test(f) && f !== bin?.file) await fs.rm(path.join(dir, f), { force: true });
  }
}

export interface OodExpectation {
  /** The model's penultimate feature size. */
  featureDim?: number;
  /** The model's labels, in order. */
  labels?: string[];
}

/**
 * Reads `dir`/ood.json and its .bin. Returns null when ood.json does not exist (no scorer: the
 * caller never answers unknown). Throws naming the file and field when it is corrupt, of another
 * format version, or does not fit the model (`expect`).
 */
export async function readOodFile(dir: string, expect: OodExpectation = {}): Promise<OodDetector | null> {
  const file = path.join(dir, OOD_JSON);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`${file}: cannot read (${(e as Error).message})`);
  }
  let j: Partial<OodJson>;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const bad = (field: string, why: string): never => {
    throw new Error(`${file}: field "${field}" ${why}`);
  };
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new Error(`${file}: expected a JSON object`);
  if (!(OOD_FORMATS_READ as readonly unknown[]).includes(j.format)) {
    bad('format', `is ${JSON.stringify(j.format)}, expected one of ${OOD_FORMATS_READ.map((f) => `"${f}"`).join(', ')} (written by another version?)`);
  }
  if (!isOodMethod(j.method)) bad('method', `is ${JSON.stringify(j.method)}, expected one of ${OOD_METHODS.join(', ')}`);
  const num = (field: keyof OodJson, ok: (v: number) => boolean, what: string) => {
    const v = j[field];
    if (typeof v !== 'number' || !ok(v)) bad(field, v === undefined ? 'is missing' : `is ${JSON.stringify(v)}, expected ${what}`);
    return v as number;
  };
  const threshold = num('threshold', Number.isFinite, 'a finite number');
  const acceptRate = num('acceptRate', (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  const temperature = num('temperature', (v) => Number.isFinite(v) && v > 0, 'a number > 0');
  const featureDim = num('featureDim', (v) => Number.isInteger(v) && v >= 1, 'an integer >= 1');
  const numClasses = num('numClasses', (v) => Number.isInteger(v) && v >= 2, 'an integer >= 2');
  if (!Array.isArray(j.labels) || j.labels.length !== numClasses || !j.labels.every((l) => typeof l === 'string')) {
    bad('labels', j.labels === undefined ? 'is missing' : `must list ${numClasses} class names`);
  }
  const labels = j.labels as string[];
  if (typeof j.params !== 'object' || j.params === null) bad('params', 'is missing');
  if (typeof j.arrays !== 'object' || j.arrays === null) bad('arrays', 'is missing');
  const fo = j.fittedOn;
  if (typeof fo !== 'object' || fo === null || typeof fo.n !== 'number' || typeof fo.thresholdN !== 'number') bad('fittedOn', 'is missing or lacks n/thresholdN');
  checkThresholdRule(fo!.thresholdRule, 'fittedOn.thresholdRule', bad);
  checkThresholdGroups(fo!, 'fittedOn.thresholdGroups', bad);
  const ts = fo!.thresholdScores;
  if (ts !== undefined && (typeof ts !== 'object' || ts === null || !Number.isFinite(ts.mean) || !(Number.isFinite(ts.sd) && ts.sd >= 0))) {
    bad('fittedOn.thresholdScores', `is ${JSON.stringify(ts)}, expected {mean, sd} with sd >= 0`);
  }
  if (expect.featureDim !== undefined && expect.featureDim !== featureDim) {
    bad('featureDim', `is ${featureDim} but the model's penultimate layer has ${expect.featureDim} features (ood.json is for another model)`);
  }
  if (expect.labels && (expect.labels.length !== labels.length || expect.labels.some((l, i) => l !== labels[i]))) {
    bad('labels', `are [${labels.join(', ')}] but the model's are [${expect.labels.join(', ')}]`);
  }

  const arrays: ScorerState['arrays'] = {};
  const entries = Object.entries(j.arrays as OodJson['arrays']);
  if (entries.length) {
    if (!j.bin || typeof j.bin.file !== 'string' || !/^ood-[0-9a-f]{16}\.bin$/.test(j.bin.file)) bad('bin', 'must name the ood-<hash>.bin file holding the arrays');
    const bin = j.bin as NonNullable<OodJson['bin']>;
    const binPath = path.join(dir, bin.file);
    let buf: Buffer;
    try {
      buf = await fs.readFile(binPath);
    } catch (e) {
      throw new Error(`${file}: field "bin" names ${binPath}, which cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    if (buf.length !== bin.bytes) bad('bin.bytes', `is ${bin.bytes} but ${binPath} has ${buf.length} bytes`);
    const sha = createHash('sha256').update(buf).digest('hex');
    if (sha !== bin.sha256) bad('bin.sha256', `does not match the content of ${binPath} (corrupt or replaced)`);
    const total = buf.length / 4;
    for (const [name, a] of entries) {
      const len = Array.isArray(a?.shape) ? a.shape.reduce((p, x) => p * x, 1) : NaN;
      if (!(Number.isInteger(a?.offset) && a.offset >= 0 && a.length === len && a.offset + a.length <= total)) {
        bad(`arrays.${name}`, `has shape ${JSON.stringify(a?.shape)}, offset ${a?.offset}, length ${a?.length}, which do not fit ${binPath} (${total} floats)`);
      }
      const data = new Float32Array(a.length);
      for (let i = 0; i < a.length; i++) data[i] = buf.readFloatLE((a.offset + i) * 4);
      arrays[name] = { shape: a.shape, data };
    }
  }
  const silArrays: ScorerState['arrays'] = {};
  for (const name of Object.keys(arrays)) {
    if (name.startsWith(SIL)) {
      silArrays[name.slice(SIL.length)] = arrays[name];
      delete arrays[name];
    }
  }
  let scorer: OodScorer;
  try {
    scorer = scorerFromState({ method: j.method as OodMethod, featureDim, numClasses, params: j.params as ScorerState['params'], arrays });
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  const silhouette = j.format === 'parts-ood/1' ? undefined : readSilhouette(j.silhouette, silArrays, bad);
  const silhouetteNote = typeof j.silhouetteNote === 'string' ? j.silhouetteNote : undefined;
  return {
    scorer,
    method: j.method as OodMethod,
    threshold,
    acceptRate,
    temperature,
    labels,
    fittedOn: fo as OodFittedOn,
    calibration: j.calibration,
    ...(silhouette ? { silhouette } : {}),
    ...(silhouetteNote ? { silhouetteNote } : {}),
  };
}

function readSilhouette(s: unknown, arrays: ScorerState['arrays'], bad: (field: string, why: string) => never): SilhouettePart | undefined {
  if (s === undefined || s === null) {
    if (Object.keys(arrays).length) bad('silhouette', `is missing but the .bin holds silhouette arrays (${Object.keys(arrays).join(', ')})`);
    return undefined;
  }
  if (typeof s !== 'object' || Array.isArray(s)) bad('silhouette', 'must be an object or null');
  const j = s as Partial<OodSilhouetteJson>;
  if (typeof j.threshold !== 'number' || !Number.isFinite(j.threshold)) bad('silhouette.threshold', `is ${JSON.stringify(j.threshold)}, expected a finite number`);
  if (typeof j.acceptRate !== 'number' || !(j.acceptRate > 0 && j.acceptRate <= 1)) bad('silhouette.acceptRate', `is ${JSON.stringify(j.acceptRate)}, expected a number in (0, 1]`);
  const known = SILHOUETTE_FEATURE_NAMES as readonly string[];
  if (
    !Array.isArray(j.features) ||
    j.features.length === 0 ||
    !j.features.every((f) => typeof f === 'string' && known.includes(f)) ||
    new Set(j.features).size !== j.features.length
  ) {
    bad('silhouette.features', `are ${JSON.stringify(j.features)}, expected distinct names from [${known.join(', ')}] (written by another version?)`);
  }
  const o = j.options ?? ({} as Partial<OodSilhouetteJson['options']>);
  for (const key of ['darkRatio', 'backgroundRadius', 'minArea'] as const) {
    if (typeof o[key] !== 'number' || !Number.isFinite(o[key])) bad(`silhouette.options.${key}`, `is ${JSON.stringify(o[key])}, expected a number`);
  }
  if (o.ignoreLetterbox !== undefined && typeof o.ignoreLetterbox !== 'boolean') bad('silhouette.options.ignoreLetterbox', `is ${JSON.stringify(o.ignoreLetterbox)}, expected true or false`);
  const fo = j.fittedOn;
  if (typeof fo !== 'object' || fo === null || typeof fo.n !== 'number' || typeof fo.thresholdN !== 'number') bad('silhouette.fittedOn', 'is missing or lacks n/thresholdN');
  checkThresholdRule(fo.thresholdRule, 'silhouette.fittedOn.thresholdRule', bad);
  checkThresholdGroups(fo, 'silhouette.fittedOn.thresholdGroups', bad);
  for (const name of ['mean', 'scale', 'bank']) if (!arrays[name]) bad(`arrays.${SIL}${name}`, 'is missing');
  try {
    const scorer = silhouetteScorerFromState({
      k: j.k as number,
      options: { darkRatio: o.darkRatio!, backgroundRadius: o.backgroundRadius!, minArea: o.minArea!, ignoreLetterbox: o.ignoreLetterbox ?? false },
      features: j.features as SilhouetteFeature[],
      mean: arrays.mean.data,
      scale: arrays.scale.data,
      bank: arrays.bank.data,
    });
    return { scorer, threshold: j.threshold!, acceptRate: j.acceptRate!, fittedOn: fo! };
  } catch (e) {
    return bad('silhouette', (e as Error).message);
  }
}

const THRESHOLD_RULES: readonly ThresholdChoice['rule'][] = ['confidence bound', 'quantile', 'tolerance bound', 'normal bound'];

/** fittedOn.thresholdGroups is optional (absent: each threshold photo its own); when present, 1 to thresholdN. */
function checkThresholdGroups(fo: { thresholdN: number; thresholdGroups?: unknown }, field: string, bad: (field: string, why: string) => never): void {
  const tg = fo.thresholdGroups;
  if (tg !== undefined && !(Number.isInteger(tg) && (tg as number) >= 1 && (tg as number) <= fo.thresholdN)) bad(field, `is ${JSON.stringify(tg)}, expected an integer from 1 to thresholdN (${fo.thresholdN})`);
}

/** fittedOn.thresholdRule is optional (older files lack it); when present it names a rule of chooseThreshold. */
function checkThresholdRule(rule: unknown, field: string, bad: (field: string, why: string) => never): void {
  if (rule !== undefined && !THRESHOLD_RULES.includes(rule as ThresholdChoice['rule'])) bad(field, `is ${JSON.stringify(rule)}, expected one of ${THRESHOLD_RULES.join(', ')}`);
}
