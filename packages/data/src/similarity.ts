import sharp from 'sharp';
import { sha256 } from './hash';
import { similarPairs, type SimilarPair } from './similar-pairs';

/**
 * Near-duplicate detection by perceptual signature: a 64×64 grayscale thumbnail divided by its heavy
 * blur, in logs (meant to divide the illumination out; see the note in perceptualSignature on which
 * blurred pixel each pixel is divided by). Across a dataset the per-pixel
 * median is subtracted (it holds what every photo shares: the same paper's specks, vignetting),
 * then each signature is made zero-mean and unit-norm; similarity is the dot product (cosine).
 *
 * Why not dHash/pHash: on top-down photos of a small part on plain paper the hash bits are decided
 * by the lighting, not by the part. Measured on ../shared/datasets/parts, 64-bit dHash put a big and
 * a small bolt photo 3 bits apart while re-shots of one pose were 2-5 apart. With this signature
 * (measured on 20 seeded photos of each set, parts / bolts-nuts) a copy re-encoded at JPEG quality
 * 60, resized to 60% or brightened 15% scores >= 0.999 / >= 0.995; cropped by 1% per side >= 0.91 /
 * >= 0.84 (median 0.98 / 0.97), by 1.5% median 0.975 / 0.94, by 3% median 0.92 / 0.80 (the
 * signature follows the part's outline, so a crop that rescales it is the edit it tolerates least);
 * re-shots of one pose score 0.55-0.8, and the most similar pair of different classes 0.50 / 0.72.
 */
export const SIGNATURE_SIZE = 64;
const BLUR_SIGMA = 8;
/** Below this many images a median would be one of the images themselves: skip it. */
const MIN_IMAGES_FOR_MEDIAN = 10;

export type Signature = Float32Array;

/** Raw (not yet normalised) signature of one image; see normalizeSignatures. */
export async function perceptualSignature(input: string | Buffer): Promise<Signature> {
  const n = SIGNATURE_SIZE;
  const gray = await sharp(input, { failOn: 'truncated' }).autoOrient().grayscale().resize(n, n, { fit: 'fill' }).raw().toBuffer();
  const background = await sharp(gray, { raw: { width: n, height: n, channels: 1 } }).blur(BLUR_SIGMA).raw().toBuffer();
  // `background` comes back as three equal sRGB channels (sharp's raw output of a one-band image) and
  // is read below as one: pixel i is divided by the blur at pixel ⌊i/3⌋, not at i, so the illumination
  // is not divided out as the header says. The thresholds (DEFAULT_NEAR_DUP_THRESHOLD, the groups')
  // and every figure measured with this signature were measured so: reading it right means measuring
  // them again.
  const v = new Float32Array(n * n);
  for (let i = 0; i < v.length; i++) v[i] = Math.log((gray[i] + 1) / (background[i] + 1));
  return v;
}

/**
 * Raw signatures by the sha256 of the photo's bytes, for one caller to share between the near-duplicate
 * groups and the data check, which read the same photos one after the other (training does both).
 * Holds 16 KB a photo: made per run and dropped after it, never module-wide.
 */
export type SignatureCache = Map<string, Signature>;

/** perceptualSignature of `bytes`, taken from or put into `cache` when given. */
export async function cachedSignature(bytes: Buffer, cache?: SignatureCache, hash?: string): Promise<Signature> {
  if (!cache) return perceptualSignature(bytes);
  const key = hash ?? sha256(bytes);
  const hit = cache.get(key);
  if (hit) return hit;
  const sig = await perceptualSignature(bytes);
  cache.set(key, sig);
  return sig;
}

/**
 * The value at index `k` of `v` sorted ascending (what v.sort()[k] gives), by quickselect (reorders v).
 * The median of each signature pixel over a dataset: a full sort of every column took ~3 s on casting.
 */
export function nthSmallest(v: Float32Array, k: number): number {
  let lo = 0;
  let hi = v.length - 1;
  while (lo < hi) {
    const pivot = v[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (v[i] < pivot) i++;
      while (v[j] > pivot) j--;
      if (i <= j) {
        const t = v[i];
        v[i] = v[j];
        v[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return v[k];
  }
  return v[k];
}

/** Removes the dataset-wide median (when there are enough images), then zero-mean, unit-norm. */
export function normalizeSignatures(raw: readonly Signature[]): Signature[] {
  const len = raw[0]?.length ?? 0;
  const median = new Float32Array(len);
  if (raw.length >= MIN_IMAGES_FOR_MEDIAN) {
    const col = new Float32Array(raw.length);
    for (let k = 0; k < len; k++) {
      for (let i = 0; i < raw.length; i++) col[i] = raw[i][k];
      median[k] = nthSmallest(col, col.length >> 1);
    }
  }
  return raw.map((r) => {
    const v = new Float32Array(len);
    let mean = 0;
    for (let k = 0; k < len; k++) {
      v[k] = r[k] - median[k];
      mean += v[k];
    }
    mean /= len;
    let norm = 0;
    for (let k = 0; k < len; k++) {
      v[k] -= mean;
      norm += v[k] * v[k];
    }
    // A featureless image matches nothing: leave it all-zero (similarity 0).
    norm = Math.sqrt(norm);
    if (norm > 1e-6) for (let k = 0; k < len; k++) v[k] /= norm;
    else v.fill(0);
    return v;
  });
}

/**
 * Which pairs above the similarity threshold are near-duplicates, judged against each image's own
 * neighbourhood. A copy (re-encoded, resized, brightened) is far closer to its original than either
 * is to the other photos; on textures (steel surfaces, fabric) every photo of a class looks like many
 * others and the threshold alone flags hundreds of look-alikes. So a pair (a, b) with similarity s is
 * kept only when 1 − s <= ratio · (1 − m), where m is the larger of a's and b's similarity to their
 * `rank`-th most similar image (partner included, identical files excluded): the pair must be several
 * times closer than the images' usual neighbours. With rank 5 a group of up to 5 copies of one photo
 * still stands out. When fewer than `rank` other images reach the neighbour floor
 * 1 − (1 − threshold)/ratio, m is below it and every pair above the threshold passes.
 *
 * Measured (see the README's data-check section): ../shared/datasets/neu (1,500 texture photos) has
 * 1,724 pairs >= 0.9, of which the rule keeps 1, a real copy (patches_101 = patches_105); planted
 * copies of neu photos: all re-encoded and resized copies found, brightened 28/30, slightly
 * cropped ones mostly not (on textures a 3% crop moves every detail; the signature itself drops to 0.4-0.9).
 */
export const NEIGHBOUR_RANK = 5;
export const DISTINCTNESS_RATIO = 0.4;

export interface NearDuplicateRule {
  /** Similarity at or above which a pair is a candidate. */
  threshold: number;
  /** Default NEIGHBOUR_RANK. */
  rank?: number;
  /** Default DISTINCTNESS_RATIO. A rank above the number of images keeps every candidate (threshold only). */
  ratio?: number;
  /** Pairs never compared (e.g. identical files, reported separately). */
  skip?: (i: number, j: number) => boolean;
  /** Called as the pairs are compared (see similarPairs). */
  onProgress?: (donePairs: number, totalPairs: number) => void;
}

export interface NearDuplicateResult {
  /** Kept pairs, most similar first; `reference` is the neighbour similarity m they were judged against. */
  pairs: (SimilarPair & { reference: number | null })[];
  /** Pairs at or above the threshold set aside as look-alikes (not distinct from their neighbourhood). */
  lookAlikes: (SimilarPair & { reference: number })[];
}

/** Near-duplicate pairs by the threshold and the neighbourhood rule above (see NEIGHBOUR_RANK). */
export function nearDuplicatePairs(signatures: readonly Signature[], rule: NearDuplicateRule): NearDuplicateResult {
  const { threshold } = rule;
  const rank = rule.rank ?? NEIGHBOUR_RANK;
  const ratio = rule.ratio ?? DISTINCTNESS_RATIO;
  if (!(threshold > 0 && threshold <= 1)) throw new RangeError(`near-duplicate threshold must be in (0, 1], got ${threshold}`);
  if (!(Number.isInteger(rank) && rank >= 1)) throw new RangeError(`near-duplicate neighbour rank must be a whole number >= 1, got ${rank}`);
  if (!(ratio > 0 && ratio <= 1)) throw new RangeError(`near-duplicate distinctness ratio must be in (0, 1], got ${ratio}`);
  // A neighbour below this floor can never reject a pair at or above the threshold.
  const floor = Math.min(threshold, 1 - (1 - threshold) / ratio);
  return judgedPairs(signatures.length, similarPairs(signatures, floor, rule.skip, rule.onProgress), threshold, { rank, ratio });
}

/**
 * The neighbourhood rule of nearDuplicatePairs applied to `similar`, every pair at or above some
 * floor: an image's neighbour similarity m is its `rank`-th among those pairs, and it has none when
 * it has fewer than `crowd` of them (default `rank`); a pair is judged against the larger m of its
 * two images, and passes when neither has one.
 */
export function judgedPairs(
  n: number,
  similar: readonly SimilarPair[],
  threshold: number,
  o: { rank?: number; ratio?: number; crowd?: number } = {},
): NearDuplicateResult {
  const rank = o.rank ?? NEIGHBOUR_RANK;
  const ratio = o.ratio ?? DISTINCTNESS_RATIO;
  const crowd = Math.max(rank, o.crowd ?? rank); // Infinity: no image has a neighbourhood, every pair passes
  const near: number[][] = Array.from({ length: n }, () => []);
  for (const p of similar) {
    near[p.i].push(p.similarity);
    near[p.j].push(p.similarity);
  }
  const reference = near.map((sims) => (sims.length >= crowd ? sims.sort((a, b) => b - a)[rank - 1] : null));
  const pairs: NearDuplicateResult['pairs'] = [];
  const lookAlikes: NearDuplicateResult['lookAlikes'] = [];
  for (const p of similar) {
    if (p.similarity < threshold) continue;
    const refs = [reference[p.i], reference[p.j]].filter((r): r is number => r !== null);
    const m = refs.length ? Math.max(...refs) : null;
    if (m === null || 1 - p.similarity <= ratio * (1 - m) + 1e-12) pairs.push({ ...p, reference: m });
    else lookAlikes.push({ ...p, reference: m });
  }
  pairs.sort((a, b) => b.similarity - a.similarity);
  lookAlikes.sort((a, b) => b.similarity - a.similarity);
  return { pairs, lookAlikes };
}

/**
 * Classic 64-bit difference hash (9×8 grayscale, left<right bits) as hex. Kept for interop and
 * exact-ish matching; see perceptualSignature for why near-duplicates are not judged by it.
 */
export async function dHash(input: string | Buffer): Promise<string> {
  const px = await sharp(input).autoOrient().grayscale().resize(9, 8, { fit: 'fill' }).raw().toBuffer();
  let hex = '';
  for (let y = 0; y < 8; y++) {
    let byte = 0;
    for (let x = 0; x < 8; x++) byte = (byte << 1) | (px[y * 9 + x] < px[y * 9 + x + 1] ? 1 : 0);
    hex += byte.toString(16).padStart(2, '0');
  }
  return hex;
}

export function hammingHex(a: string, b: string): number {
  let d = 0;
  for (let i = 0; i < a.length; i += 2) {
    let x = parseInt(a.slice(i, i + 2), 16) ^ parseInt(b.slice(i, i + 2), 16);
    while (x) {
      d += x & 1;
      x >>= 1;
    }
  }
  return d;
}
