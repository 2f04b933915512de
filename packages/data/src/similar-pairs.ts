// Every pair of signatures at least `floor` alike, exactly, without computing most of the n²/2 dot
// products in full.
//
// Signatures are unit vectors (normalizeSignatures), so a·b = (|a|² + |b|² − |a − b|²)/2: a pair can
// reach the floor only if |a − b|² <= |a|² + |b|² − 2·floor (the limit). |a − b|² is the sum of three
// orthogonal parts, summed one after the other, and a pair is dropped as soon as the running sum
// passes the limit (checked every 16 numbers in the first two parts, every row of blocks in the third):
//   1. along the 32 directions the signatures vary most in (principal components of a sample of
//      them, within the 2×2-pooled image: principalBasis), from each signature's 32 coordinates;
//   2. the rest of the 2×2-pooled image (1,024 numbers for a 64×64 signature, stored per signature);
//   3. the detail within each 2×2 block (each pixel minus its block's mean), from the signatures.
// Only pairs that get through all three get the exact dot product (signatureSimilarity), which decides.
// Measured on the 2-core machine against the search before this one (bounds from 8×8- and 16×16-pooled
// signatures), the same pairs and values: ../shared/datasets/casting (6,958 photos, 24.2 M pairs)
// 42 s → 7.6 s at the data check's floor 0.75, 135 s → 22 s at 0.6 (the near-duplicate groups'
// threshold), 7.2 s → 2.3 s at 0.9; neu (1,500 textures) 1.9 → 1.7 s at 0.6 and 0.3-0.7 → 0.6-0.9 s
// at 0.75-0.9, where the pooled bounds alone already dropped most pairs and fitting the directions
// costs a few tenths of a second.
import type { Signature } from './similarity';

/** Cosine similarity of two normalised signatures (see normalizeSignatures): their dot product. */
export function signatureSimilarity(a: Signature, b: Signature): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export interface SimilarPair {
  /** Indices into the signature list, i < j. */
  i: number;
  j: number;
  similarity: number;
}

/** Directions of the first step. */
const PRINCIPAL_DIRECTIONS = 32;
/** Signatures the directions are fitted on (evenly spaced over the list), and the passes of the fit. */
const PRINCIPAL_SAMPLE = 1024;
const PRINCIPAL_PASSES = 2;
/** Below this many signatures the first step is left out (it would cost more than it saves). */
const MIN_FOR_PRINCIPAL = 4 * PRINCIPAL_DIRECTIONS;
/**
 * Slack for float rounding: a pair is dropped only when its distance passes the limit for floor − EPS.
 * The parts are computed in float64 from float32 signatures; the pooled image (from which the
 * coordinates and the rest are taken) and the stored rest are rounded to float32, which moves a sum
 * by at most about 1e-6 for unit vectors, against the 2·EPS the limit leaves.
 */
const EPS = 1e-5;

/** Sum over 2×2 blocks divided by 2 (an orthonormal projection: |P(a − b)| <= |a − b|), written to out[at...]. */
function pooled2(v: Signature, side: number, out: Float32Array, at: number): void {
  const s = side / 2;
  for (let y = 0; y < s; y++) {
    for (let x = 0; x < s; x++) {
      const p = 2 * y * side + 2 * x;
      out[at + y * s + x] = (v[p] + v[p + 1] + v[p + side] + v[p + side + 1]) / 2;
    }
  }
}

/** Makes the rows orthonormal in place (modified Gram-Schmidt, twice for float64 accuracy); drops rows that vanish. */
function orthonormalRows(rows: Float64Array[]): Float64Array[] {
  const kept: Float64Array[] = [];
  for (const r of rows) {
    for (let pass = 0; pass < 2; pass++) {
      for (const q of kept) {
        let d = 0;
        for (let k = 0; k < r.length; k++) d += r[k] * q[k];
        for (let k = 0; k < r.length; k++) r[k] -= d * q[k];
      }
    }
    let norm = 0;
    for (let k = 0; k < r.length; k++) norm += r[k] * r[k];
    norm = Math.sqrt(norm);
    if (norm < 1e-9) continue;
    for (let k = 0; k < r.length; k++) r[k] /= norm;
    kept.push(r);
  }
  return kept;
}

/**
 * Up to `count` orthonormal directions that the vectors vary most in, by subspace iteration on an
 * evenly spaced sample of them, centred, starting from sample vectors themselves (no randomness: the
 * same list gives the same directions). The search is exact with any orthonormal rows; the fit only
 * decides how many pairs the first step drops.
 */
function principalBasis(vectors: readonly ArrayLike<number>[], count: number): Float64Array[] {
  const dims = vectors[0].length;
  const m = Math.min(vectors.length, PRINCIPAL_SAMPLE);
  const sample = Array.from({ length: m }, (_, s) => Float64Array.from(vectors[Math.floor((s * vectors.length) / m)]));
  const mean = new Float64Array(dims);
  for (const v of sample) for (let k = 0; k < dims; k++) mean[k] += v[k] / m;
  for (const v of sample) for (let k = 0; k < dims; k++) v[k] -= mean[k];
  let basis = orthonormalRows(Array.from({ length: Math.min(count, m) }, (_, r) => Float64Array.from(sample[Math.floor((r * m) / Math.min(count, m))])));
  for (let pass = 0; pass < PRINCIPAL_PASSES; pass++) {
    // basis ← orthonormalised Cᵀ C basisᵀ, C the centred sample.
    const next = basis.map(() => new Float64Array(dims));
    for (const v of sample) {
      for (let r = 0; r < basis.length; r++) {
        const b = basis[r];
        let y = 0;
        for (let k = 0; k < dims; k++) y += v[k] * b[k];
        const z = next[r];
        for (let k = 0; k < dims; k++) z[k] += y * v[k];
      }
    }
    basis = orthonormalRows(next);
  }
  return basis;
}

/** Each signature's coordinates along the principal directions, and the rest of its pooled image. */
interface Parts {
  /** `count` numbers per signature, or none (count 0: too few signatures to fit directions on). */
  count: number;
  principal: Float64Array;
  /** The pooled image minus its part along the principal directions, `dims` numbers per signature. */
  dims: number;
  rest: Float32Array;
}

function partsOf(signatures: readonly Signature[], side: number): Parts {
  const n = signatures.length;
  const dims = (side / 2) ** 2;
  const rest = new Float32Array(n * dims);
  signatures.forEach((v, i) => pooled2(v, side, rest, i * dims));
  if (n < MIN_FOR_PRINCIPAL) return { count: 0, principal: new Float64Array(0), dims, rest };
  const rows = Array.from({ length: n }, (_, i) => rest.subarray(i * dims, (i + 1) * dims));
  const basis = principalBasis(rows, PRINCIPAL_DIRECTIONS);
  const count = basis.length;
  const principal = new Float64Array(n * count);
  const r = new Float64Array(dims);
  rows.forEach((v, i) => {
    r.set(v);
    basis.forEach((b, c) => {
      let y = 0;
      for (let k = 0; k < dims; k++) y += v[k] * b[k];
      principal[i * count + c] = y;
      for (let k = 0; k < dims; k++) r[k] -= y * b[k];
    });
    v.set(r);
  });
  return { count, principal, dims, rest };
}

/** d + |x[ia..] − y[ib..]|² over `dims` numbers, or Infinity as soon as it passes `limit`. */
function addDistance(d: number, x: ArrayLike<number>, ia: number, y: ArrayLike<number>, ib: number, dims: number, limit: number): number {
  for (let k = 0; k < dims; k += 16) {
    const end = Math.min(dims, k + 16);
    for (let m = k; m < end; m++) {
      const e = x[ia + m] - y[ib + m];
      d += e * e;
    }
    if (d > limit) return Infinity;
  }
  return d;
}

/** d + the detail part of |a − b|² (each pixel's difference minus its 2×2 block's mean), or Infinity once past `limit`. */
function addDetail(d: number, a: Signature, b: Signature, side: number, limit: number): number {
  for (let y = 0; y < side; y += 2) {
    for (let x = 0; x < side; x += 2) {
      const p = y * side + x;
      const e0 = a[p] - b[p];
      const e1 = a[p + 1] - b[p + 1];
      const e2 = a[p + side] - b[p + side];
      const e3 = a[p + side + 1] - b[p + side + 1];
      const m = (e0 + e1 + e2 + e3) / 4;
      d += (e0 - m) ** 2 + (e1 - m) ** 2 + (e2 - m) ** 2 + (e3 - m) ** 2;
    }
    if (d > limit) return Infinity;
  }
  return d;
}

/**
 * Every pair (i < j, in that order) with a·b >= floor, exactly: the pairs a brute-force loop over
 * signatureSimilarity finds, with the same similarity values. `skip` pairs are never compared.
 */
export function similarPairs(
  signatures: readonly Signature[],
  floor: number,
  skip?: (i: number, j: number) => boolean,
  onProgress?: (donePairs: number, totalPairs: number) => void,
): SimilarPair[] {
  const n = signatures.length;
  const len = signatures[0]?.length ?? 0;
  const side = Math.round(Math.sqrt(len));
  // The parts need a square signature of even side; any other length goes straight to the dot product.
  const parts = n > 1 && side * side === len && side % 2 === 0 ? partsOf(signatures, side) : null;
  const norms = signatures.map((v) => {
    let s = 0;
    for (let k = 0; k < v.length; k++) s += v[k] * v[k];
    return s;
  });
  const out: SimilarPair[] = [];
  const totalPairs = (n * (n - 1)) / 2;
  let donePairs = 0;
  for (let i = 0; i < n; i++) {
    if (onProgress && i > 0) onProgress((donePairs += n - i), totalPairs);
    for (let j = i + 1; j < n; j++) {
      if (skip?.(i, j)) continue;
      const limit = norms[i] + norms[j] - 2 * (floor - EPS);
      if (limit < 0) continue;
      if (parts) {
        const { count, principal, dims, rest } = parts;
        let d = addDistance(0, principal, i * count, principal, j * count, count, limit);
        if (d === Infinity) continue;
        d = addDistance(d, rest, i * dims, rest, j * dims, dims, limit);
        if (d === Infinity || addDetail(d, signatures[i], signatures[j], side, limit) === Infinity) continue;
      }
      const similarity = signatureSimilarity(signatures[i], signatures[j]);
      if (similarity >= floor) out.push({ i, j, similarity });
    }
  }
  return out;
}
