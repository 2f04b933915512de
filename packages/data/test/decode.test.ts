import { writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import { CONTAIN_FILL, decodeImage, DecodeError, type RawImage } from '../src/index';
import { tempDir } from './fixtures';

const pixel = (img: RawImage, x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));
const near = (a: number[], b: number[], tol: number) => a.every((v, i) => Math.abs(v - b[i]) <= tol);

/** w×h RGB image whose columns are split into colour bands: [[fromX, [r,g,b]], ...]. */
async function bands(w: number, h: number, spec: [number, number[]][]): Promise<Sharp> {
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const colour = [...spec].reverse().find(([from]) => x >= from)![1];
      px.set(colour, (y * w + x) * 3);
    }
  }
  return sharp(px, { raw: { width: w, height: h, channels: 3 } });
}

const RED = [220, 30, 30];
const GREEN = [30, 200, 40];
const BLUE = [30, 40, 210];

describe('decodeImage: colour handling', () => {
  const solid = (c: number[]) => sharp({ create: { width: 40, height: 30, channels: 3, background: { r: c[0], g: c[1], b: c[2] } } });

  it('turns grayscale into 3-channel RGB', async () => {
    const buf = await solid([200, 50, 10]).toColourspace('b-w').png().toBuffer();
    expect((await sharp(buf).metadata()).channels).toBe(1);
    const img = await decodeImage(buf, { size: 8, fit: 'cover' });
    expect(img.data.length).toBe(8 * 8 * 3);
    const [r, g, b] = pixel(img, 4, 4);
    expect(r).toBe(g);
    expect(g).toBe(b);
    expect(r).toBeGreaterThan(60);
    expect(r).toBeLessThan(130);
  });

  it('converts CMYK JPEG to sRGB', async () => {
    const buf = await solid([200, 50, 10]).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
    expect((await sharp(buf).metadata()).space).toBe('cmyk');
    const img = await decodeImage(buf, { size: 8, fit: 'cover' });
    expect(near(pixel(img, 4, 4), [200, 50, 10], 15)).toBe(true);
  });

  it('converts 16-bit PNG (RGB and gray) to 8-bit', async () => {
    const rgb16 = await solid([200, 50, 10]).toColourspace('rgb16').png().toBuffer();
    expect((await sharp(rgb16).metadata()).depth).toBe('ushort');
    const img = await decodeImage(rgb16, { size: 8, fit: 'cover' });
    expect(img.data).toBeInstanceOf(Uint8Array);
    expect(img.data.length).toBe(8 * 8 * 3);
    expect(near(pixel(img, 4, 4), [200, 50, 10], 2)).toBe(true);

    const grey16 = await solid([200, 200, 200]).toColourspace('grey16').png().toBuffer();
    const g = await decodeImage(grey16, { size: 8, fit: 'cover' });
    expect(near(pixel(g, 4, 4), [200, 200, 200], 2)).toBe(true);
  });

  it('flattens alpha on white', async () => {
    const px = Buffer.alloc(20 * 10 * 4);
    for (let i = 0; i < 20 * 10; i++) {
      const opaque = i % 20 < 10; // left half opaque blue, right half fully transparent black
      px.set(opaque ? [0, 0, 255, 255] : [0, 0, 0, 0], i * 4);
    }
    const buf = await sharp(px, { raw: { width: 20, height: 10, channels: 4 } }).png().toBuffer();
    const img = await decodeImage(buf, { size: 10, fit: 'contain' });
    expect(near(pixel(img, 1, 5), [0, 0, 255], 3)).toBe(true);
    expect(near(pixel(img, 8, 5), [255, 255, 255], 3)).toBe(true);
  });

  it('applies the EXIF orientation', async () => {
    // Stored 64×32: left half red, right half blue. Orientation 6 = display rotated 90° clockwise,
    // i.e. 32×64 with red on top.
    const stored = await bands(64, 32, [
      [0, RED],
      [32, BLUE],
    ]);
    const buf = await stored.withMetadata({ orientation: 6 }).jpeg({ quality: 95 }).toBuffer();
    expect((await sharp(buf).metadata()).orientation).toBe(6);
    const img = await decodeImage(buf, { size: 64, fit: 'contain' });
    expect(near(pixel(img, 32, 8), RED, 30)).toBe(true);
    expect(near(pixel(img, 32, 56), BLUE, 30)).toBe(true);
    // Letterbox bars left and right (portrait into a square).
    expect(near(pixel(img, 2, 32), [CONTAIN_FILL.r, CONTAIN_FILL.g, CONTAIN_FILL.b], 2)).toBe(true);
  });
});

describe('decodeImage: fit policies', () => {
  // 200×100: green | red (middle half) | blue.
  const wide = () =>
    bands(200, 100, [
      [0, GREEN],
      [50, RED],
      [150, BLUE],
    ]).then((s) => s.png().toBuffer());

  it('cover crops the centre, like ImageOps.fit', async () => {
    const img = await decodeImage(await wide(), { size: 50, fit: 'cover' });
    expect([img.width, img.height]).toEqual([50, 50]);
    // The centre 100×100 is all red: so is the whole output. The outermost columns may take a
    // little of the cropped-off neighbours through the resampling filter, as with PIL.
    for (let x = 0; x < 50; x++) {
      const edge = x === 0 || x === 49;
      expect(near(pixel(img, x, 0), RED, edge ? 15 : 3), `column ${x}`).toBe(true);
      expect(near(pixel(img, x, 49), RED, edge ? 15 : 3), `column ${x}`).toBe(true);
    }
  });

  it('contain letterboxes with the neutral fill', async () => {
    const img = await decodeImage(await wide(), { size: 50, fit: 'contain' });
    const fill = [CONTAIN_FILL.r, CONTAIN_FILL.g, CONTAIN_FILL.b];
    // The picture becomes 50×25 in rows 12..37 (or so); bars above and below.
    expect(near(pixel(img, 25, 3), fill, 1)).toBe(true);
    expect(near(pixel(img, 25, 46), fill, 1)).toBe(true);
    expect(near(pixel(img, 3, 25), GREEN, 3)).toBe(true);
    expect(near(pixel(img, 25, 25), RED, 3)).toBe(true);
    expect(near(pixel(img, 46, 25), BLUE, 3)).toBe(true);
  });
});

describe('decodeImage: errors', () => {
  const opts = { size: 8, fit: 'cover' as const };
  const codeOf = (p: Promise<unknown>) =>
    p.then(
      () => 'no error',
      (e) => (e instanceof DecodeError ? e.code : `not a DecodeError: ${e}`),
    );

  it('classifies empty, unsupported, corrupt and unreadable input and names the file', async () => {
    const dir = tempDir();
    const jpeg = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#808080' } })
      .jpeg()
      .toBuffer();
    const cases: [string, Buffer, string][] = [
      ['empty.jpg', Buffer.alloc(0), 'empty'],
      ['text.jpg', Buffer.from('definitely not an image'), 'unsupported'],
      ['cut.jpg', jpeg.subarray(0, jpeg.length >> 1), 'corrupt'],
    ];
    for (const [name, bytes, code] of cases) {
      const file = path.join(dir, name);
      writeFileSync(file, bytes);
      expect(await codeOf(decodeImage(file, opts))).toBe(code);
      await expect(decodeImage(file, opts)).rejects.toThrow(`cannot decode ${file}: `);
    }
    expect(await codeOf(decodeImage(path.join(dir, 'missing.png'), opts))).toBe('unreadable');
    // libvips could render SVG, but it is no photo: refused.
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>');
    await expect(decodeImage(svg, { ...opts, name: 'x.svg' })).rejects.toThrow('cannot decode x.svg: unsupported image format svg');
    await expect(decodeImage(Buffer.from('x'), { ...opts, name: 'upload.png' })).rejects.toThrow('cannot decode upload.png: unsupported image format');
  });

  it('rejects images over maxPixels from the header, naming the limit', async () => {
    const buf = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#fff' } })
      .png()
      .toBuffer();
    const err = await decodeImage(buf, { ...opts, maxPixels: 100_000, name: 'big.png' }).catch((e) => e);
    expect(err).toBeInstanceOf(DecodeError);
    expect(err.code).toBe('too-large');
    expect(err.message).toBe('cannot decode big.png: 400x300 = 120000 pixels exceeds the limit of 100000 pixels');
    await expect(decodeImage(buf, { ...opts, maxPixels: 120_000 })).resolves.toMatchObject({ width: 8 });
  });

  it('validates its options', async () => {
    await expect(decodeImage(Buffer.from('x'), { size: 0, fit: 'cover' })).rejects.toThrow(RangeError);
    await expect(decodeImage(Buffer.from('x'), { size: 8, fit: 'stretch' as never })).rejects.toThrow(/fit must be/);
  });
});
