import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { contentHash } from './hash';
import { mapLimit } from './list';
import { relPosix } from './paths';
import { cachedSignature, DISTINCTNESS_RATIO, NEIGHBOUR_RANK, nearDuplicatePairs, normalizeSignatures, type Signature, type SignatureCache } from './similarity';
import type { BadFile, DatasetIndex, SplitName } from './types';

export interface FileRef {
  /** Path relative to the dataset root, with forward slashes. */
  path: string;
  split: SplitName;
  className: string;
}

export interface DuplicateGroup {
  files: FileRef[];
  /** Spans more than one split. */
  crossSplit: boolean;
}

export interface NearDuplicatePair {
  a: FileRef;
  b: FileRef;
  /** Cosine similarity of the perceptual signatures, in [-1, 1]. */
  similarity: number;
  crossSplit: boolean;
}

export interface SizeCount {
  width: number;
  height: number;
  count: number;
}

export interface DatasetReport {
  root: string;
  classes: string[];
  splitSource: DatasetIndex['splitSource'];
  /** Images per class (indexed like classes) per split. */
  counts: Record<SplitName, number[]>;
  totals: Record<SplitName, number>;
  /** Largest over smallest class count in train. */
  imbalanceRatio: number;
  /** Distinct image sizes (as stored, before EXIF rotation), most frequent first. */
  sizes: SizeCount[];
  minSize: { width: number; height: number } | null;
  maxSize: { width: number; height: number } | null;
  formats: Record<string, number>;
  /** Files skipped by listDataset plus any that failed here. */
  unreadable: BadFile[];
  exactDuplicates: DuplicateGroup[];
  nearDuplicates: NearDuplicatePair[];
  nearDupThreshold: number;
  /**
   * Pairs at or above the threshold that were not kept: no closer to each other than to their
   * NEIGHBOUR_RANK-th most similar photo (look-alike textures, not copies; see similarity.ts).
   */
  lookAlikePairs: number;
  /** Duplicates between test and train/val (or train and val). */
  leakage: string[];
  warnings: string[];
}

export interface CheckOptions {
  /** Cosine similarity of perceptual signatures (see similarity.ts) at or above which two images
   *  are near-duplicate candidates. Default 0.9: edited copies score >= 0.92, re-shots of one pose <= 0.85.
   *  A candidate is kept when it also stands out from both images' neighbourhoods (nearDuplicatePairs). */
  nearDupThreshold?: number;
  onProgress?: (done: number, total: number) => void;
  /** Called as the signatures' pairs are compared, after every image was read. */
  onCompare?: (donePairs: number, totalPairs: number) => void;
  /** Signatures already taken of these photos (listDataset's groups in the same run): not decoded again. */
  signatures?: SignatureCache;
}

export const DEFAULT_NEAR_DUP_THRESHOLD = 0.9;
const SPLITS: SplitName[] = ['train', 'val', 'test'];

interface Scanned {
  ref: FileRef;
  file: string;
  hash: string;
  signature: Signature;
  width: number;
  height: number;
  format: string;
}

function leakWords(a: FileRef, b: FileRef): string | null {
  if (a.split === b.split) return null;
  const pair = [a.split, b.split].sort().join('/');
  return pair.includes('test') ? `${pair} leakage` : `${pair} overlap`;
}

/** Reads every image once: content hash, header size and perceptual signature. */
export async function checkDataset(index: DatasetIndex, opts: CheckOptions = {}): Promise<DatasetReport> {
  const threshold = opts.nearDupThreshold ?? DEFAULT_NEAR_DUP_THRESHOLD;
  if (!(threshold > 0 && threshold <= 1)) throw new RangeError(`nearDupThreshold must be in (0, 1], got ${threshold}`);
  const { classes, root } = index;

  const entries = SPLITS.flatMap((split) =>
    index.splits[split].map((s) => ({ file: s.file, ref: { path: relPosix(root, s.file), split, className: classes[s.label] } })),
  );
  const unreadable: BadFile[] = [...(index.skipped ?? [])];
  const scanned = await mapLimit(
    entries,
    4,
    async ({ file, ref }): Promise<Scanned | null> => {
      try {
        const bytes = await readFile(file);
        const meta = await sharp(bytes).metadata();
        const hash = await contentHash(file, bytes);
        const result: Scanned = {
          ref,
          file,
          hash,
          signature: await cachedSignature(bytes, opts.signatures, hash),
          width: meta.width ?? 0,
          height: meta.height ?? 0,
          format: meta.format ?? 'unknown',
        };
        return result;
      } catch (e) {
        unreadable.push({ file, reason: `cannot decode ${file}: ${(e as Error).message.split('\n')[0]}` });
        return null;
      }
    },
    opts.onProgress,
  );
  const ok = scanned.filter((s): s is Scanned => s !== null);
  // Scans finish in any order; keep the report deterministic.
  unreadable.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));

  const counts = {} as Record<SplitName, number[]>;
  const totals = {} as Record<SplitName, number>;
  for (const split of SPLITS) {
    counts[split] = classes.map((_, label) => index.splits[split].filter((s) => s.label === label).length);
    totals[split] = index.splits[split].length;
  }
  const trainCounts = counts.train.filter((n) => n > 0);
  const imbalanceRatio = trainCounts.length ? Math.max(...trainCounts) / Math.min(...trainCounts) : 1;

  const sizeMap = new Map<string, SizeCount>();
  const formats: Record<string, number> = {};
  for (const s of ok) {
    const key = `${s.width}x${s.height}`;
    const e = sizeMap.get(key) ?? { width: s.width, height: s.height, count: 0 };
    e.count++;
    sizeMap.set(key, e);
    formats[s.format] = (formats[s.format] ?? 0) + 1;
  }
  const sizes = [...sizeMap.values()].sort((a, b) => b.count - a.count || a.width * a.height - b.width * b.height);
  const byArea = [...sizes].sort((a, b) => a.width * a.height - b.width * b.height);
  const minSize = byArea.length ? { width: byArea[0].width, height: byArea[0].height } : null;
  const maxSize = byArea.length ? { width: byArea.at(-1)!.width, height: byArea.at(-1)!.height } : null;

  // Exact duplicates: identical bytes.
  const byHash = new Map<string, Scanned[]>();
  for (const s of ok) byHash.set(s.hash, [...(byHash.get(s.hash) ?? []), s]);
  const exactDuplicates: DuplicateGroup[] = [...byHash.values()]
    .filter((g) => g.length > 1)
    .map((g) => ({ files: g.map((s) => s.ref), crossSplit: new Set(g.map((s) => s.ref.split)).size > 1 }));

  // Near duplicates: identical files are already reported, so never compared again.
  const signatures = normalizeSignatures(ok.map((s) => s.signature));
  const near = nearDuplicatePairs(signatures, { threshold, skip: (i, j) => ok[i].hash === ok[j].hash, onProgress: opts.onCompare });
  const nearDuplicates: NearDuplicatePair[] = near.pairs.map(({ i, j, similarity }) => ({
    a: ok[i].ref,
    b: ok[j].ref,
    similarity,
    crossSplit: ok[i].ref.split !== ok[j].ref.split,
  }));

  const leakage: string[] = [];
  const warnings: string[] = [];
  for (const g of exactDuplicates) {
    for (let i = 1; i < g.files.length; i++) {
      const [a, b] = [g.files[0], g.files[i]];
      const leak = leakWords(a, b);
      if (leak) leakage.push(`${leak}: ${a.path} and ${b.path} are identical files`);
      if (a.className !== b.className) warnings.push(`label conflict: ${a.path} and ${b.path} are identical but labelled ${a.className} / ${b.className}`);
    }
  }
  for (const p of nearDuplicates) {
    const leak = leakWords(p.a, p.b);
    if (leak) leakage.push(`${leak}: ${p.a.path} and ${p.b.path} are near-identical (similarity ${p.similarity.toFixed(3)})`);
    if (p.a.className !== p.b.className) {
      warnings.push(`label conflict: ${p.a.path} and ${p.b.path} are near-identical but labelled ${p.a.className} / ${p.b.className}`);
    }
  }
  if (imbalanceRatio >= 3) warnings.push(`train classes are imbalanced (ratio ${imbalanceRatio.toFixed(2)}); class weights are advised`);
  if (unreadable.length) warnings.push(`${unreadable.length} unreadable file(s) skipped`);
  if (minSize && Math.min(minSize.width, minSize.height) < 64) {
    warnings.push(`smallest image is ${minSize.width}x${minSize.height}; upscaling it to the model size will blur it`);
  }

  return {
    root,
    classes,
    splitSource: index.splitSource,
    counts,
    totals,
    imbalanceRatio,
    sizes,
    minSize,
    maxSize,
    formats,
    unreadable,
    exactDuplicates,
    nearDuplicates,
    nearDupThreshold: threshold,
    lookAlikePairs: near.lookAlikes.length,
    leakage,
    warnings,
  };
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')).join('\n');
}

function listed<T>(items: T[], show: (t: T) => string, max = 20): string[] {
  const lines = items.slice(0, max).map((t) => `  ${show(t)}`);
  if (items.length > max) lines.push(`  ... and ${items.length - max} more`);
  return lines;
}

const ordinal = (n: number) => `${n}${n % 10 === 1 && n % 100 !== 11 ? 'st' : n % 10 === 2 && n % 100 !== 12 ? 'nd' : n % 10 === 3 && n % 100 !== 13 ? 'rd' : 'th'}`;

/** Human-readable report, printed before training and by `pnpm data:check`. */
export function formatDatasetReport(r: DatasetReport): string {
  const out: string[] = [];
  out.push(`Dataset ${r.root}`);
  out.push(`Classes (${r.classes.length}): ${r.classes.join(', ')}`);
  const rows = [['split', 'source', ...r.classes, 'total']];
  for (const split of SPLITS) {
    if (r.splitSource[split] === 'none') continue;
    rows.push([split, r.splitSource[split], ...r.counts[split].map(String), String(r.totals[split])]);
  }
  out.push(table(rows));
  out.push(`Imbalance ratio (train, largest/smallest class): ${r.imbalanceRatio.toFixed(2)}`);
  const sizeText = r.sizes
    .slice(0, 5)
    .map((s) => `${s.width}x${s.height} (${s.count})`)
    .join(', ');
  out.push(
    `Image sizes: ${sizeText || 'none'}${r.sizes.length > 5 ? `, ... ${r.sizes.length} distinct` : ''}` +
      (r.minSize && r.maxSize ? `; smallest ${r.minSize.width}x${r.minSize.height}, largest ${r.maxSize.width}x${r.maxSize.height}` : ''),
  );
  out.push(`Formats: ${Object.entries(r.formats).map(([f, n]) => `${f} ${n}`).join(', ') || 'none'}`);
  out.push(`Unreadable files: ${r.unreadable.length || 'none'}`);
  out.push(...listed(r.unreadable, (b) => b.reason));
  out.push(`Exact duplicates: ${r.exactDuplicates.length ? `${r.exactDuplicates.length} group(s)` : 'none'}`);
  out.push(...listed(r.exactDuplicates, (g) => g.files.map((f) => f.path).join(' = ')));
  out.push(
    `Near duplicates (similarity >= ${r.nearDupThreshold}): ${r.nearDuplicates.length ? `${r.nearDuplicates.length} pair(s)` : 'none'}`,
  );
  out.push(...listed(r.nearDuplicates, (p) => `${p.similarity.toFixed(3)}  ${p.a.path} ~ ${p.b.path}${p.crossSplit ? '  [cross-split]' : ''}`));
  if (r.lookAlikePairs) {
    out.push(
      `Look-alikes set aside: ${r.lookAlikePairs} pair(s) >= ${r.nearDupThreshold} no closer to each other than to their ${ordinal(NEIGHBOUR_RANK)} most similar photo ` +
        `(1 - similarity > ${DISTINCTNESS_RATIO} x (1 - that neighbour's)); typical of textures, not copies`,
    );
  }
  if (r.leakage.length) {
    out.push(`LEAKAGE WARNINGS (${r.leakage.length}):`);
    out.push(...listed(r.leakage, (l) => l));
  }
  if (r.warnings.length) {
    out.push(`Warnings:`);
    out.push(...listed(r.warnings, (w) => w));
  }
  return out.join('\n');
}
