import sharp from 'sharp';

/**
 * Near-duplicate detection by perceptual signature: a 64×64 grayscale thumbnail with the
 * illumination divided out (log of the image over its heavy blur). Across a dataset the per-pixel
 * median is subtracted (it holds what every photo shares: the same paper's specks, vignetting),
 * then each signature is made zero-mean and unit-norm; similarity is the dot product (cosine).
 *
 * Why not dHash/pHash: on top-down photos of a small part on plain paper the hash bits are decided
 * by the lighting, not by the part. Measured on ../shared/datasets/parts, 64-bit dHash put a big and
 * a small bolt photo 3 bits apart while re-shots of one pose were 2-5 apart. With this signature a
 * re-encoded/resized/brightened or slightly cropped copy scores >= 0.92, re-shots of one pose
 * 0.55-0.8, and the most similar pair of different classes 0.5 (parts) / 0.72 (bolts-nuts).
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
  const v = new Float32Array(n * n);
  for (let i = 0; i < v.length; i++) v[i] = Math.log((gray[i] + 1) / (background[i] + 1));
  return v;
}

/** Removes the dataset-wide median (when there are enough images), then zero-mean, unit-norm. */
export function normalizeSignatures(raw: readonly Signature[]): Signature[] {
  const len = raw[0]?.length ?? 0;
  const median = new Float32Array(len);
  if (raw.length >= MIN_IMAGES_FOR_MEDIAN) {
    const col = new Float32Array(raw.length);
    for (let k = 0; k < len; k++) {
      for (let i = 0; i < raw.length; i++) col[i] = raw[i][k];
      col.sort();
      median[k] = col[col.length >> 1];
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

export function signatureSimilarity(a: Signature, b: Signature): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
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
