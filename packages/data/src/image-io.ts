// Photos in their own geometry (not fitted to a model's input) and PNG encoding of 8-bit rasters:
// what explanations and shift tests need besides decodeImage. sharp stays the one image library.
import sharp from 'sharp';
import { DecodeError, DEFAULT_MAX_PIXELS } from './decode';
import type { RawImage } from './types';

/**
 * Decodes a photo at its own size, exactly as decodeImage sees it before fitting: EXIF orientation
 * applied, alpha flattened on white, 8-bit sRGB RGB. `name` is used in error messages.
 */
export async function decodePhoto(bytes: Buffer, name = '<buffer>', maxPixels = DEFAULT_MAX_PIXELS): Promise<RawImage> {
  if (bytes.length === 0) throw new DecodeError('empty', name, 'empty file');
  try {
    const meta = await sharp(bytes, { failOn: 'truncated', limitInputPixels: false }).metadata();
    if (!meta.width || !meta.height) throw new DecodeError('corrupt', name, 'image has no dimensions');
    if (meta.width * meta.height > maxPixels) {
      throw new DecodeError('too-large', name, `${meta.width}x${meta.height} exceeds the limit of ${maxPixels} pixels`);
    }
    let img = sharp(bytes, { failOn: 'truncated', limitInputPixels: maxPixels, autoOrient: true });
    if (meta.hasAlpha) img = img.flatten({ background: { r: 255, g: 255, b: 255 } });
    const { data, info } = await img.removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`unexpected decoded layout ${info.width}x${info.height}x${info.channels}`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  } catch (e) {
    if (e instanceof DecodeError) throw e;
    throw new DecodeError('corrupt', name, ((e as Error).message ?? String(e)).split('\n')[0]);
  }
}

function checkRaster(data: Uint8Array, width: number, height: number, channels: number, what: string): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw new RangeError(`${what}: bad size ${width}x${height}`);
  if (data.length !== width * height * channels) throw new RangeError(`${what}: ${data.length} bytes for ${width}x${height}x${channels}`);
}

/** PNG of an 8-bit single-channel raster (row-major). */
export async function encodeGrayPng(data: Uint8Array, width: number, height: number): Promise<Buffer> {
  checkRaster(data, width, height, 1, 'encodeGrayPng');
  return sharp(Buffer.from(data.buffer, data.byteOffset, data.length), { raw: { width, height, channels: 1 } }).png().toBuffer();
}

/** PNG of an 8-bit RGB image. */
export async function encodeRgbPng(img: RawImage): Promise<Buffer> {
  checkRaster(img.data, img.width, img.height, 3, 'encodeRgbPng');
  return sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer();
}

/** JPEG of an 8-bit RGB image at `quality` (1-100). */
export async function encodeRgbJpeg(img: RawImage, quality: number): Promise<Buffer> {
  checkRaster(img.data, img.width, img.height, 3, 'encodeRgbJpeg');
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) throw new RangeError(`encodeRgbJpeg: quality must be an integer 1-100, got ${quality}`);
  return sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels: 3 } })
    .jpeg({ quality })
    .toBuffer();
}

/** Resizes an RGB image so that its longer side is at most `maxSide` (never enlarges). */
export async function downscaleRgb(img: RawImage, maxSide: number): Promise<RawImage> {
  checkRaster(img.data, img.width, img.height, 3, 'downscaleRgb');
  const scale = maxSide / Math.max(img.width, img.height);
  if (scale >= 1) return img;
  const width = Math.max(1, Math.round(img.width * scale));
  const height = Math.max(1, Math.round(img.height * scale));
  const data = await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer();
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width, height };
}
