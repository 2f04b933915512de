// Dataset versions: the base dataset plus the photos people reviewed, written as a new, numbered,
// immutable folder that training and evaluation read like any other dataset.
//
//   <root>/v<N>/
//     train/<class>/…, test/<class>/… (val/<class>/… when the base has one)   what training reads
//     unknowns/…        photos reviewed as "not a part": known unknowns. Evaluation measures
//                       rejection on them; they are never a training class (listDataset reads only
//                       train/val/test).
//     manifest.json     every photo: path, split, label, content hash, origin (base or review),
//                       reviewer and time; excluded and pending photos with the reason
//
// Why these rules:
// - A reviewed photo's split is a pure function of its content hash (splitOfHash), so it never moves
//   between splits in later versions: a photo tested on once is never trained on later, and the
//   reviewed photos of a version's test split were seen by no model trained on any version.
// - A version is built in `<root>/.tmp-v<N>-<pid>` and renamed to `v<N>` when complete: a failed or
//   killed build leaves no version (a later build removes the temp folders of dead processes).
// - 'bad-photo' reviews are left out; a label that is no existing class creates that class — once
//   it has a photo in every split the version has (listDataset needs every class in every split);
//   until then its photos are listed as pending in the manifest, and join in a later version.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { repoRoot } from '@parts/cli';
import { byCodeUnit, IMAGE_EXTENSIONS, listDataset } from './list';
import { contentHash, sha256 } from './hash';
import type { SplitName } from './types';

/** A photo a person reviewed, as the prediction log's review store hands it over. */
export interface ReviewedPhoto {
  /** Content hash of the photo (the log stores photos by it). */
  hash: string;
  /** Absolute path of the stored photo. */
  file: string;
  /** A class name (existing or new), or what the photo is not. */
  label: string | 'not-a-part' | 'bad-photo';
  reviewer: string;
  /** ISO 8601. */
  reviewedAt: string;
  source?: string | null;
  loggedAt?: string | null;
  modelId?: string | null;
}

export const NOT_A_PART = 'not-a-part';
export const BAD_PHOTO = 'bad-photo';
export const MANIFEST_JSON = 'manifest.json';
export const MANIFEST_FORMAT = 'parts-dataset-version/1';
export const UNKNOWNS_DIR = 'unknowns';

/**
 * Where a reviewed photo goes, by u = the first 32 bits of sha256(`parts-split/1:` + hash) / 2^32:
 * test when u < 0.25 (25%); val when 0.25 <= u < 0.40 (15%) and the base dataset has a val folder;
 * train otherwise (75%, or 60% with val). Without a val folder, training carves its validation photos
 * out of train as usual.
 */
export const REVIEW_SPLIT_RULE = {
  salt: 'parts-split/1:',
  test: 0.25,
  val: 0.15,
  text: 'reviewed photos: test when u < 0.25, else val when u < 0.40 and the base has a val folder, else train; u = first 32 bits of sha256("parts-split/1:" + hash) / 2^32',
} as const;

/** A reviewed photo's split: a pure function of its hash (and of whether versions have a val folder). */
export function splitOfHash(hash: string, hasVal = false): SplitName {
  const u = parseInt(sha256(REVIEW_SPLIT_RULE.salt + hash).slice(0, 8), 16) / 2 ** 32;
  if (u < REVIEW_SPLIT_RULE.test) return 'test';
  if (hasVal && u < REVIEW_SPLIT_RULE.test + REVIEW_SPLIT_RULE.val) return 'val';
  return 'train';
}

export interface ManifestPhoto {
  /** Path inside the version folder, with forward slashes. */
  path: string;
  split: SplitName | 'unknowns';
  /** The class; null for known unknowns. */
  label: string | null;
  hash: string;
  origin: 'base' | 'review';
  /** base: the file's path inside the base dataset. review: the stored photo it was copied from. */
  from: string;
  reviewer?: string;
  reviewedAt?: string;
  source?: string | null;
  modelId?: string | null;
}

export interface DatasetManifest {
  format: typeof MANIFEST_FORMAT;
  version: number;
  createdAt: string;
  base: { root: string; splits: SplitName[] };
  splitRule: string;
  classes: string[];
  /** Classes that came from reviews only (not in the base dataset). */
  newClasses: string[];
  counts: Record<string, Record<string, number>>;
  unknowns: number;
  photos: ManifestPhoto[];
  /** Reviewed photos left out of this version, each with why. */
  excluded: { hash: string; file: string; label: string; reason: string }[];
  /** Reviewed photos of a new class that has no photo yet in some split: they join a later version. */
  pending: { hash: string; file: string; label: string; split: SplitName; reason: string }[];
}

export interface BuildVersionOptions {
  /** The base dataset (<base>/<split>/<class>/<image>, with a test folder). */
  base: string;
  /** The folder of versions (v1, v2, … are created inside). */
  root: string;
  reviewed: ReviewedPhoto[];
  now?: Date;
  log?: (line: string) => void;
}

export interface BuiltVersion {
  version: number;
  dir: string;
  manifest: DatasetManifest;
}

const VERSION_DIR = /^v(\d+)$/;
const TMP_VERSION = /^\.tmp-v(\d+)-(\d+)$/;
/** Class folder names: what a file system and a URL take without escaping. */
const CLASS_NAME = /^[A-Za-z0-9][A-Za-z0-9 _.+-]{0,63}$/;

/** Where versions live unless told: <repo>/datasets/versions (ignored by git, beside the demo data). */
export function defaultVersionsRoot(): string {
  return path.join(repoRoot(), 'datasets', 'versions');
}

/** Version numbers present in root (complete versions only), ascending. */
export async function listVersions(root: string): Promise<number[]> {
  let names: string[];
  try {
    names = await fs.readdir(root);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`cannot list dataset versions in ${root}: ${(e as Error).message}`);
  }
  const out: number[] = [];
  for (const n of names) {
    const m = VERSION_DIR.exec(n);
    if (m && (await fs.stat(path.join(root, n))).isDirectory()) out.push(Number(m[1]));
  }
  return out.sort((a, b) => a - b);
}

export function versionDir(root: string, version: number): string {
  return path.join(path.resolve(root), `v${version}`);
}

/** The newest complete version, or null when root has none. */
export async function latestVersion(root: string): Promise<{ version: number; dir: string } | null> {
  const v = (await listVersions(root)).at(-1);
  return v === undefined ? null : { version: v, dir: versionDir(root, v) };
}

export async function readManifest(versionFolder: string): Promise<DatasetManifest> {
  const file = path.join(versionFolder, MANIFEST_JSON);
  let m: DatasetManifest;
  try {
    m = JSON.parse(await fs.readFile(file, 'utf8')) as DatasetManifest;
  } catch (e) {
    throw new Error(`cannot read dataset manifest ${file}: ${(e as Error).message}`);
  }
  if (m.format !== MANIFEST_FORMAT || !Array.isArray(m.photos)) throw new Error(`${file}: not a dataset manifest (format must be '${MANIFEST_FORMAT}')`);
  return m;
}

/** Checks the records and keeps the latest decision per hash (a photo re-reviewed later wins). */
export function validateReviewed(reviewed: readonly ReviewedPhoto[], where = 'reviewed photos'): ReviewedPhoto[] {
  if (!Array.isArray(reviewed)) throw new Error(`${where}: expected a list of reviewed photo records`);
  const latest = new Map<string, ReviewedPhoto>();
  reviewed.forEach((r, i) => {
    const at = `${where}[${i}]`;
    if (!r || typeof r !== 'object') throw new Error(`${at}: not an object`);
    for (const f of ['hash', 'file', 'label', 'reviewer', 'reviewedAt'] as const) {
      if (typeof r[f] !== 'string' || !r[f]) throw new Error(`${at}: field '${f}' must be a non-empty string`);
    }
    if (!path.isAbsolute(r.file)) throw new Error(`${at}: field 'file' must be an absolute path (got ${r.file})`);
    if (Number.isNaN(Date.parse(r.reviewedAt))) throw new Error(`${at}: field 'reviewedAt' is not an ISO date (got ${r.reviewedAt})`);
    if (r.label !== NOT_A_PART && r.label !== BAD_PHOTO && !CLASS_NAME.test(r.label)) {
      throw new Error(`${at}: label '${r.label}' is not a usable class name (letters, digits, space, _ . + -; at most 64 characters; starting with a letter or digit)`);
    }
    const prev = latest.get(r.hash);
    if (!prev || Date.parse(r.reviewedAt) >= Date.parse(prev.reviewedAt)) latest.set(r.hash, r);
  });
  return [...latest.values()].sort((a, b) => byCodeUnit(a.hash, b.hash));
}

/**
 * Builds the next version `<root>/v<N>` from the base dataset and the reviewed photos. The folder
 * appears complete or not at all; the base and the earlier versions are only read.
 */
export async function buildDatasetVersion(opts: BuildVersionOptions): Promise<BuiltVersion> {
  const log = opts.log ?? (() => {});
  const root = path.resolve(opts.root);
  const base = path.resolve(opts.base);
  const reviewed = validateReviewed(opts.reviewed);
  const index = await listDataset(base, { validate: false });
  if (index.splitSource.test !== 'folder') {
    throw new Error(`base dataset ${base} has no test folder: versions keep the base's splits as they are, so it needs ${path.join(base, 'test', '<class>')}`);
  }
  const splits: SplitName[] = index.splitSource.val === 'folder' ? ['train', 'val', 'test'] : ['train', 'test'];
  const hasVal = splits.includes('val');
  await fs.mkdir(root, { recursive: true });
  await removeDeadTemps(root, log);

  // Base photos keep their split and class; their hashes let reviews of the same photo be skipped.
  const photos: ManifestPhoto[] = [];
  const baseHashes = new Map<string, string>();
  for (const split of splits) {
    for (const s of index.splits[split]) {
      const label = index.classes[s.label];
      const hash = await contentHash(s.file);
      const rel = `${split}/${label}/${path.basename(s.file)}`;
      baseHashes.set(hash, rel);
      photos.push({ path: rel, split, label, hash, origin: 'base', from: path.relative(base, s.file).split(path.sep).join('/') });
    }
  }
  log(`base ${base}: ${photos.length} photos in ${index.classes.length} classes (${splits.join(', ')})`);

  const excluded: DatasetManifest['excluded'] = [];
  const pendingCandidates: (ReviewedPhoto & { split: SplitName })[] = [];
  const unknowns: ManifestPhoto[] = [];
  const reviewedPhotos: ManifestPhoto[] = [];
  for (const r of reviewed) {
    const dup = baseHashes.get(r.hash);
    if (r.label === BAD_PHOTO) {
      excluded.push({ hash: r.hash, file: r.file, label: r.label, reason: 'reviewed as a bad photo' });
      continue;
    }
    if (dup) {
      excluded.push({ hash: r.hash, file: r.file, label: r.label, reason: `the same photo is in the base dataset (${dup})` });
      continue;
    }
    const ext = await photoExtension(r.file);
    if (!ext) {
      excluded.push({ hash: r.hash, file: r.file, label: r.label, reason: 'not a jpg, png or webp photo (or unreadable)' });
      continue;
    }
    const name = `${r.hash.replace(/[^A-Za-z0-9]/g, '').slice(0, 64)}${ext}`;
    const meta = { hash: r.hash, origin: 'review' as const, from: r.file, reviewer: r.reviewer, reviewedAt: r.reviewedAt, source: r.source ?? null, modelId: r.modelId ?? null };
    if (r.label === NOT_A_PART) {
      unknowns.push({ path: `${UNKNOWNS_DIR}/${name}`, split: 'unknowns', label: null, ...meta });
      continue;
    }
    const split = splitOfHash(r.hash, hasVal);
    if (!index.classes.includes(r.label)) pendingCandidates.push({ ...r, split });
    reviewedPhotos.push({ path: `${split}/${r.label}/${name}`, split, label: r.label, ...meta });
  }
  // A new class joins once it has a photo in every split.
  const newClassSplits = new Map<string, Set<SplitName>>();
  for (const p of pendingCandidates) (newClassSplits.get(p.label) ?? newClassSplits.set(p.label, new Set()).get(p.label)!).add(p.split);
  const newClasses = [...newClassSplits].filter(([, s]) => splits.every((x) => s.has(x))).map(([c]) => c).sort(byCodeUnit);
  const pending: DatasetManifest['pending'] = [];
  for (const p of pendingCandidates) {
    if (newClasses.includes(p.label)) continue;
    const have = newClassSplits.get(p.label)!;
    pending.push({
      hash: p.hash,
      file: p.file,
      label: p.label,
      split: p.split,
      reason: `new class '${p.label}' has no reviewed photo yet in ${splits.filter((s) => !have.has(s)).join(', ')}; it joins when it has one in every split`,
    });
  }
  const pendingHashes = new Set(pending.map((p) => p.hash));
  for (const p of reviewedPhotos) if (!pendingHashes.has(p.hash)) photos.push(p);
  photos.push(...unknowns);
  const classes = [...index.classes, ...newClasses].sort(byCodeUnit);

  const counts: DatasetManifest['counts'] = {};
  for (const split of splits) counts[split] = Object.fromEntries(classes.map((c) => [c, photos.filter((p) => p.split === split && p.label === c).length]));

  const version = ((await listVersions(root)).at(-1) ?? 0) + 1;
  const manifest: DatasetManifest = {
    format: MANIFEST_FORMAT,
    version,
    createdAt: (opts.now ?? new Date()).toISOString(),
    base: { root: base, splits },
    splitRule: REVIEW_SPLIT_RULE.text,
    classes,
    newClasses,
    counts,
    unknowns: unknowns.length,
    photos,
    excluded,
    pending,
  };

  const tmp = path.join(root, `.tmp-v${version}-${process.pid}`);
  await fs.rm(tmp, { recursive: true, force: true });
  try {
    await fs.mkdir(tmp);
    const dirs = new Set(photos.map((p) => path.posix.dirname(p.path)));
    for (const d of dirs) await fs.mkdir(path.join(tmp, d), { recursive: true });
    let done = 0;
    for (const p of photos) {
      const from = p.origin === 'base' ? path.join(base, p.from) : p.from;
      await fs.copyFile(from, path.join(tmp, p.path)).catch((e: Error) => {
        throw new Error(`cannot copy ${p.origin === 'base' ? 'base photo' : `reviewed photo ${p.hash}`} ${from}: ${e.message}`);
      });
      if (++done % 200 === 0) log(`copied ${done}/${photos.length} photos`);
    }
    await fs.writeFile(path.join(tmp, MANIFEST_JSON), JSON.stringify(manifest, null, 2) + '\n');
    const dir = versionDir(root, version);
    // rename fails when v<N> appeared meanwhile (another build): nothing is overwritten.
    await fs.rename(tmp, dir).catch((e: NodeJS.ErrnoException) => {
      throw new Error(`cannot put version ${dir} in place (${e.code ?? e.message}): was another build running at the same time?`);
    });
    log(`dataset version v${version}: ${dir}`);
    return { version, dir, manifest };
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** The file's image extension ('.jpg', '.png', '.webp'), from its name or else its content; null when neither says. */
async function photoExtension(file: string): Promise<string | null> {
  const ext = path.extname(file).slice(1).toLowerCase();
  if ((IMAGE_EXTENSIONS as readonly string[]).includes(ext)) return `.${ext}`;
  const format = await sharp(file).metadata().then((m) => m.format, () => null);
  return format === 'jpeg' ? '.jpg' : format === 'png' || format === 'webp' ? `.${format}` : null;
}

/** Removes `.tmp-v<N>-<pid>` folders whose process is gone (a killed build). */
async function removeDeadTemps(root: string, log: (l: string) => void): Promise<void> {
  for (const n of await fs.readdir(root)) {
    const m = TMP_VERSION.exec(n);
    if (!m) continue;
    const pid = Number(m[2]);
    if (pid !== process.pid && processAlive(pid)) continue;
    await fs.rm(path.join(root, n), { recursive: true, force: true });
    log(`removed ${n}, left by a build that did not finish`);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One line per split and class, for people. */
export function formatVersionSummary(b: BuiltVersion): string {
  const m = b.manifest;
  const lines = [`v${m.version} at ${b.dir}: classes ${m.classes.join(', ')}${m.newClasses.length ? ` (new: ${m.newClasses.join(', ')})` : ''}`];
  for (const [split, c] of Object.entries(m.counts)) lines.push(`  ${split}: ${Object.entries(c).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  const rev = m.photos.filter((p) => p.origin === 'review' && p.split !== 'unknowns').length;
  lines.push(`  reviewed photos: ${rev} in classes, ${m.unknowns} known unknowns (${UNKNOWNS_DIR}/), ${m.excluded.length} excluded, ${m.pending.length} pending`);
  for (const p of m.pending) lines.push(`  pending ${p.hash.slice(0, 12)}: ${p.reason}`);
  return lines.join('\n');
}

/** Reads a JSON file of ReviewedPhoto records (a list, or {reviewed: [...]}). */
export async function readReviewedFile(file: string): Promise<ReviewedPhoto[]> {
  let v: unknown;
  try {
    v = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read reviewed photos from ${file}: ${(e as Error).message}`);
  }
  const list = Array.isArray(v) ? v : (v as { reviewed?: unknown })?.reviewed;
  if (!Array.isArray(list)) throw new Error(`${file}: expected a JSON list of reviewed photo records (or {"reviewed": [...]})`);
  return validateReviewed(list as ReviewedPhoto[], file);
}
