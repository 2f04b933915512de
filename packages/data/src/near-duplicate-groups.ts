/**
 * Near-duplicate groups: photos joined (union-find) whenever their perceptual signatures
 * (similarity.ts) are at least `threshold` alike and the pair stands out from the photos' other
 * same-class neighbours at the threshold (the data check's distinctness rule, judgedPairs, with the
 * neighbours counted there instead of among all photos), directly or through a chain of
 * such pairs. Only photos of the same class are joined: a group is a run of re-shots of one part in
 * one pose, and keeping groups single-class lets every split stay stratified.
 *
 * The neighbourhood rule matters where every photo of a class looks alike: on `casting` (impellers
 * filling the frame) 1.7% of same-class pairs reach 0.6, and chains of them joined 3,751 of the 3,758
 * defective photos into one group, so the group-aware validation split took the whole class; on
 * `neu` (textures) the largest group held 177 photos. A pair is judged only when one of its photos
 * has a crowd of GROUP_CROWD (10) or more same-class photos at or above the threshold, against the
 * larger of the two photos' 5th most similar; a pair of two photos with smaller neighbourhoods is
 * kept. So a burst of up to 10 re-shots of one pose, none of them alike to 10 photos in all, stays
 * one group (a burst of 11 or more is judged as a crowd), and the bolt sets, where no photo has more
 * than one such neighbour, group as before. With the rule, casting's 6,633
 * training photos form 5,186 groups of at most 28 photos and neu's 1,200 form 1,024 of at most 32
 * (a crowd of 5 gave at most 7 and 8, but split bursts of 6; of 20, 450 and 73).
 *
 * Why: consecutive shots in a photo folder are near-copies of each other. A validation photo whose
 * near-copy was trained on scores like a training photo, so a threshold, a temperature or an early
 * stopping epoch chosen on it is set on optimistic data, and a line's truly new photos fall below
 * it. Splits that hold whole groups on one side (groupStratifiedSplit, and the folds of
 * packages/train) validate on photos as new as the line's.
 *
 * The default threshold is lower than the data check's (0.9, which flags edited copies): re-shots
 * of one pose score 0.55-0.8 on the bolt sets, and different classes at most 0.5 (parts) / 0.72
 * (bolts-nuts); since groups never span classes, 0.6 joins re-shots without merging classes.
 */
import { readFile } from 'node:fs/promises';
import { mapLimit } from './list';
import { makeRng, shuffled } from './rng';
import { cachedSignature, judgedPairs, NEIGHBOUR_RANK, normalizeSignatures, type Signature, type SignatureCache } from './similarity';
import { similarPairs } from './similar-pairs';
import type { Sample } from './types';
import { DEFAULT_GROUP_THRESHOLD } from '@parts/cli';

export { DEFAULT_GROUP_THRESHOLD };

export interface NearDuplicateGroups {
  /** Group id per sample, in the samples' order; ids are 0..count-1, numbered by first appearance. */
  groupOf: number[];
  count: number;
  threshold: number;
  /** Size of the largest group. */
  largest: number;
}

export interface GroupOptions {
  /** Similarity at or above which two photos of one class are joined. Default DEFAULT_GROUP_THRESHOLD. */
  threshold?: number;
  /** Same-class neighbours at the threshold from which a photo's pairs must stand out. Default GROUP_CROWD; Infinity joins every pair (plain chaining). */
  crowd?: number;
  /** Called after each photo's signature. */
  onProgress?: (done: number, total: number) => void;
  /** Called as the signatures' pairs are compared. */
  onCompare?: (donePairs: number, totalPairs: number) => void;
  /** Signatures shared with a data check of the same photos (similarity.ts SignatureCache). */
  signatures?: SignatureCache;
}

/** See the header: bursts of up to this many re-shots stay whole; larger crowds of look-alikes are judged. */
export const GROUP_CROWD = 2 * NEIGHBOUR_RANK;

function checkThreshold(t: number): void {
  if (!(t > 0 && t <= 1)) throw new RangeError(`near-duplicate group threshold must be in (0, 1], got ${t}`);
}

/** Union-find over pairs of the same label at least `threshold` alike that stand out from their neighbours (see above). */
export function groupsFromSignatures(
  signatures: readonly Signature[],
  labels: readonly number[],
  threshold = DEFAULT_GROUP_THRESHOLD,
  crowd = GROUP_CROWD,
  onCompare?: (donePairs: number, totalPairs: number) => void,
): NearDuplicateGroups {
  checkThreshold(threshold);
  if (signatures.length !== labels.length) throw new RangeError(`groupsFromSignatures: ${signatures.length} signatures for ${labels.length} labels`);
  const n = signatures.length;
  const parent = Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]];
      i = parent[i];
    }
    return i;
  };
  const candidates = similarPairs(signatures, threshold, (i, j) => labels[i] !== labels[j], onCompare);
  for (const { i, j } of judgedPairs(n, candidates, threshold, { crowd }).pairs) {
    const a = find(i);
    const b = find(j);
    if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
  }
  const idOfRoot = new Map<number, number>();
  const groupOf = Array.from({ length: n }, (_, i) => {
    const r = find(i);
    if (!idOfRoot.has(r)) idOfRoot.set(r, idOfRoot.size);
    return idOfRoot.get(r)!;
  });
  const sizes = new Array<number>(idOfRoot.size).fill(0);
  for (const g of groupOf) sizes[g]++;
  return { groupOf, count: idOfRoot.size, threshold, largest: sizes.length ? Math.max(...sizes) : 0 };
}

/**
 * Reads every sample's file once and groups them (signatures normalised over these samples, as the
 * data check does over a dataset). O(n²) signature products per class; n in the thousands is fine.
 */
export async function nearDuplicateGroups(samples: readonly Sample[], opts: GroupOptions = {}): Promise<NearDuplicateGroups> {
  const threshold = opts.threshold ?? DEFAULT_GROUP_THRESHOLD;
  checkThreshold(threshold);
  const raw = await mapLimit(
    samples,
    4,
    async (s) => {
      try {
        return await cachedSignature(await readFile(s.file), opts.signatures);
      } catch (e) {
        throw new Error(`near-duplicate groups: cannot read ${s.file}: ${(e as Error).message.split('\n')[0]}`);
      }
    },
    opts.onProgress,
  );
  return groupsFromSignatures(normalizeSignatures(raw), samples.map((s) => s.label), threshold, opts.crowd, opts.onCompare);
}

/** Number of distinct groups among `samples` (looked up by file). */
export function countGroups(samples: readonly Sample[], groupOfFile: ReadonlyMap<string, number>): number {
  const seen = new Set<number>();
  for (const s of samples) {
    const g = groupOfFile.get(s.file);
    if (g === undefined) throw new Error(`countGroups: ${s.file} has no near-duplicate group`);
    seen.add(g);
  }
  return seen.size;
}

/**
 * Like stratifiedSplit, but moves whole near-duplicate groups: per class, the groups are shuffled
 * by a stream keyed by seed, purpose and class name, and taken until the taken photos reach
 * round(fraction × class size) (the group that crosses the target goes where it leaves the count
 * closer to it). Every class keeps at least one group on the remaining side and, when it has more
 * than one group and fraction > 0, gives at least one. `groupOfFile` maps each sample's file to its
 * group; groups never span classes (nearDuplicateGroups).
 */
export function groupStratifiedSplit(
  samples: readonly Sample[],
  classes: readonly string[],
  fraction: number,
  seed: number | string,
  purpose: string,
  groupOfFile: ReadonlyMap<string, number>,
): { kept: Sample[]; taken: Sample[] } {
  const kept: Sample[] = [];
  const taken: Sample[] = [];
  classes.forEach((cls, label) => {
    const own = samples.filter((s) => s.label === label);
    if (own.length === 0) return;
    const byGroup = new Map<number, Sample[]>();
    for (const s of own) {
      const g = groupOfFile.get(s.file);
      if (g === undefined) throw new Error(`group split: ${s.file} has no near-duplicate group`);
      byGroup.set(g, [...(byGroup.get(g) ?? []), s]);
    }
    // Groups in a fixed order (by their first file) before the seeded shuffle, so the result does
    // not depend on how the ids were numbered.
    const groups = [...byGroup.values()].map((g) => g.sort((a, b) => (a.file < b.file ? -1 : 1))).sort((a, b) => (a[0].file < b[0].file ? -1 : 1));
    const target = Math.round(own.length * fraction);
    const order = shuffled(groups, makeRng(`${seed}:${purpose}:groups:${cls}`));
    let n = 0;
    let i = 0;
    for (; i < order.length - 1; i++) {
      const size = order[i].length;
      if (n >= target) break;
      // Take the group when that ends nearer the target than stopping here (ties: take).
      if (n > 0 && Math.abs(n + size - target) > Math.abs(n - target)) break;
      n += size;
    }
    if (i === 0 && fraction > 0 && order.length > 1) i = 1;
    taken.push(...order.slice(0, i).flat());
    kept.push(...order.slice(i).flat());
  });
  const sort = (a: Sample, b: Sample) => a.label - b.label || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0);
  return { kept: kept.sort(sort), taken: taken.sort(sort) };
}

/**
 * The crowd to re-list a recorded run's splits with (its config.json `data.groups`): the one it
 * recorded, or Infinity for a run recorded before the neighbourhood rule, whose groups joined every
 * pair at the threshold.
 */
export function recordedGroupCrowd(groups: { crowd?: number | null } | undefined): number {
  return typeof groups?.crowd === 'number' ? groups.crowd : Infinity;
}
