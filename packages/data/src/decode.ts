import { readFile } from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';
import type { FitPolicy, RawImage } from './types';

/**
 * Why an image could not be decoded, so callers can react per kind (the server maps
 * unsupported → 415, corrupt/empty → 400, too-large → 413; unreadable is an I/O error).
 */
export type DecodeErrorCode = 'unsupported' | 'corrupt' | 'too-large' | 'empty' | 'unreadable';

export class DecodeError extends Error {
  override name = 'DecodeError';
  constructor(
    readonly code: DecodeErrorCode,
    /** The file path or the name given for a buffer. */
    readonly file: string,
    reason: string,
  ) {
    super(`cannot decode ${file}: ${reason}`);
  }
}

export interface DecodeOptions {
  /** Output is size × size RGB. */
  size: number;
  fit: FitPolicy;
  /** Largest accepted width × height, checked from the header before any pixel is decoded. Default 50e6. */
  maxPixels?: number;
  /** Name used in error messages when decoding a buffer (e.g. the upload's file name). */
  name?: string;
}

export const DEFAULT_MAX_PIXELS = 50e6;

/**
 * Letterbox fill for `contain`: mid gray. It is the dataset-independent neutral value (≈0 after
 * [-1,1] scaling, close to the ImageNet mean), so the bars carry as little signal as possible.
 */
export const CONTAIN_FILL = { r: 128, g: 128, b: 128 } as const;

/** Paper-white, the background a transparent product photo is meant to be seen on. */
const ALPHA_BACKGROUND = { r: 255, g: 255, b: 255 } as const;

/**
 * Raster formats accepted. Vector and document inputs that libvips can also read (SVG, PDF) are
 * refused: they are not photos, and rendering them on a server is a needless attack surface.
 */
export const DECODABLE_FORMATS: ReadonlySet<string> = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif', 'heif']);

// 'truncated' rejects cut-off files but tolerates the harmless warnings many camera JPEGs carry
// (e.g. "extraneous bytes before marker"), which sharp's default 'warning' would reject.
const FAIL_ON = 'truncated' as const;

function classify(err: unknown): { code: DecodeErrorCode; reason: string } {
  const msg = (err as Error)?.message ?? String(err);
  if (/unsupported image format/i.test(msg)) return { code: 'unsupported', reason: 'unsupported image format' };
  if (/pixel limit/i.test(msg)) return { code: 'too-large', reason: msg };
  return { code: 'corrupt', reason: msg.split('\n')[0] };
}

/**
 * Decodes an image file or buffer to 8-bit sRGB RGB of size × size: EXIF orientation applied,
 * alpha flattened on white, gray/CMYK/16-bit converted, fitted by `cover` (center crop, like PIL's
 * ImageOps.fit) or `contain` (letterbox with CONTAIN_FILL).
 */
export async function decodeImage(input: string | Buffer, opts: DecodeOptions): Promise<RawImage> {
  const { size, fit } = opts;
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const name = opts.name ?? (typeof input === 'string' ? input : '<buffer>');
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`decodeImage: size must be a positive integer, got ${size}`);
  if (fit !== 'cover' && fit !== 'contain') throw new RangeError(`decodeImage: fit must be 'cover' or 'contain', got ${String(fit)}`);

  let bytes: Buffer;
  if (typeof input === 'string') {
    try {
      bytes = await readFile(input);
    } catch (e) {
      throw new DecodeError('unreadable', name, (e as Error).message);
    }
  } else {
    bytes = input;
  }
  if (bytes.length === 0) throw new DecodeError('empty', name, 'empty file');

  // Header only: rejects decompression bombs before libvips allocates their pixels.
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { failOn: FAIL_ON, limitInputPixels: false }).metadata();
  } catch (e) {
    const { code, reason } = classify(e);
    throw new DecodeError(code, name, reason);
  }
  if (!DECODABLE_FORMATS.has(meta.format ?? '')) throw new DecodeError('unsupported', name, `unsupported image format ${meta.format ?? 'unknown'}`);
  if (!meta.width || !meta.height) throw new DecodeError('corrupt', name, 'image has no dimensions');
  const pixels = meta.width * meta.height;
  if (pixels > maxPixels) {
    throw new DecodeError('too-large', name, `${meta.width}x${meta.height} = ${pixels} pixels exceeds the limit of ${maxPixels} pixels`);
  }

  try {
    let img = sharp(bytes, { failOn: FAIL_ON, limitInputPixels: maxPixels, autoOrient: true });
    if (meta.hasAlpha) img = img.flatten({ background: ALPHA_BACKGROUND });
    const { data, info } = await img
      .resize(size, size, { fit, position: 'centre', background: CONTAIN_FILL })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== size || info.height !== size) {
      throw new Error(`unexpected decoded layout ${info.width}x${info.height}x${info.channels}`);
    }
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: size, height: size };
  } catch (e) {
    if (e instanceof DecodeError) throw e;
    const { code, reason } = classify(e);
    throw new DecodeError(code, name, reason);
  }
}

/**
 * Cheap full-file validation: decodes at a tiny size (JPEG shrink-on-load keeps it fast) so that a
 * truncated or corrupt file is caught, not just a bad header. Returns the error, or null when fine.
 */
export async function probeImage(file: string, maxPixels = DEFAULT_MAX_PIXELS): Promise<DecodeError | null> {
  try {
    await decodeImage(file, { size: 8, fit: 'cover', maxPixels });
    return null;
  } catch (e) {
    if (e instanceof DecodeError) return e;
    throw e;
  }
}
