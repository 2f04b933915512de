/**
 * Far-out-of-distribution images the project generates itself, to check that an OOD detector
 * rejects what is plainly not a photo of a part: noise, blank frames, gradients, text-like
 * stripes of glyphs, random shapes, checkerboards, smooth colour fields, and two transforms of a
 * real photo (heavy blur, very dark). Every generator is deterministic per (kind, seed, size).
 */
import sharp from 'sharp';
import { makeRng } from './rng';
import type { RawImage } from './types';

export const FAR_OOD_KINDS = ['noise', 'blank', 'gradient', 'text', 'shapes', 'checkerboard', 'color-field'] as const;
export type FarOodKind = (typeof FAR_OOD_KINDS)[number];

export interface FarOodSample {
  kind: FarOodKind;
  seed: number;
  image: RawImage;
}

function blank(width: number, height: number): RawImage {
  return { data: new Uint8Array(width * height * 3), width, height };
}

const clamp255 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

function fill(img: RawImage, f: (x: number, y: number) => [number, number, number]): RawImage {
  const { width, height, data } = img;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = f(x, y);
      const o = (y * width + x) * 3;
      data[o] = clamp255(r);
      data[o + 1] = clamp255(g);
      data[o + 2] = clamp255(b);
    }
  }
  return img;
}

function rect(img: RawImage, x0: number, y0: number, w: number, h: number, c: number[]): void {
  const xa = Math.max(0, Math.floor(x0));
  const ya = Math.max(0, Math.floor(y0));
  const xb = Math.min(img.width, Math.floor(x0 + w));
  const yb = Math.min(img.height, Math.floor(y0 + h));
  for (let y = ya; y < yb; y++) {
    for (let x = xa; x < xb; x++) {
      const o = (y * img.width + x) * 3;
      img.data[o] = c[0];
      img.data[o + 1] = c[1];
      img.data[o + 2] = c[2];
    }
  }
}

/** One far-OOD image of `kind`, `width`×`height` (default square), deterministic per seed. */
export function farOodImage(kind: FarOodKind, seed: number, width: number, height = width): RawImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`far-OOD image size must be positive integers (got ${width}x${height})`);
  }
  const rng = makeRng(`far-ood:${kind}:${seed}`);
  const colour = () => [rng() * 255, rng() * 255, rng() * 255];
  const img = blank(width, height);
  switch (kind) {
    case 'noise': {
      for (let i = 0; i < img.data.length; i++) img.data[i] = Math.floor(rng() * 256);
      return img;
    }
    case 'blank': {
      const c = colour();
      return fill(img, () => [c[0], c[1], c[2]]);
    }
    case 'gradient': {
      const a = colour();
      const b = colour();
      const ang = rng() * Math.PI * 2;
      const dx = Math.cos(ang);
      const dy = Math.sin(ang);
      const span = Math.abs(dx) * width + Math.abs(dy) * height || 1;
      const off = Math.min(0, dx * width) + Math.min(0, dy * height);
      return fill(img, (x, y) => {
        const t = (x * dx + y * dy - off) / span;
        return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
      });
    }
    case 'text': {
      // Light page with dark lines of glyph-like blocks (strokes of random widths and gaps).
      const paper = 225 + rng() * 30;
      fill(img, () => [paper, paper, paper - rng() * 10]);
      const ink = [rng() * 60, rng() * 60, rng() * 80];
      const line = Math.max(3, Math.round(height / (8 + rng() * 10)));
      for (let y = line; y + line <= height; y += Math.round(line * 1.6)) {
        let x = Math.round(rng() * line);
        while (x < width - line) {
          const glyph = Math.max(1, Math.round(line * (0.3 + rng() * 0.6)));
          // Each glyph: a few vertical/horizontal strokes inside its box.
          const strokes = 1 + Math.floor(rng() * 3);
          for (let s = 0; s < strokes; s++) {
            if (rng() < 0.6) rect(img, x + rng() * glyph, y, Math.max(1, line / 6), line * (0.5 + rng() * 0.5), ink);
            else rect(img, x, y + rng() * line, glyph, Math.max(1, line / 6), ink);
          }
          x += glyph + Math.round(rng() < 0.2 ? line : line / 4);
        }
      }
      return img;
    }
    case 'shapes': {
      const bg = colour();
      fill(img, () => [bg[0], bg[1], bg[2]]);
      const count = 3 + Math.floor(rng() * 8);
      for (let s = 0; s < count; s++) {
        const c = colour();
        const cx = rng() * width;
        const cy = rng() * height;
        const r = (0.05 + rng() * 0.25) * Math.min(width, height);
        if (rng() < 0.5) rect(img, cx - r, cy - r * (0.3 + rng()), 2 * r, r * (0.6 + rng()), c);
        else {
          for (let y = Math.max(0, Math.floor(cy - r)); y < Math.min(height, Math.ceil(cy + r)); y++) {
            for (let x = Math.max(0, Math.floor(cx - r)); x < Math.min(width, Math.ceil(cx + r)); x++) {
              if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) rect(img, x, y, 1, 1, c);
            }
          }
        }
      }
      return img;
    }
    case 'checkerboard': {
      const a = colour();
      const b = colour();
      const cell = Math.max(1, Math.round(Math.min(width, height) / (2 + rng() * 14)));
      return fill(img, (x, y) => ((Math.floor(x / cell) + Math.floor(y / cell)) % 2 ? a : b) as [number, number, number]);
    }
    case 'color-field': {
      // Sum of a few random low-frequency waves per channel.
      const waves = Array.from({ length: 3 }, () =>
        Array.from({ length: 3 }, () => ({ fx: (rng() * 4 * Math.PI) / width, fy: (rng() * 4 * Math.PI) / height, ph: rng() * 6.3, amp: 30 + rng() * 50 })),
      );
      const base = colour();
      return fill(img, (x, y) =>
        [0, 1, 2].map((ch) => base[ch] + waves[ch].reduce((s, w) => s + w.amp * Math.sin(w.fx * x + w.fy * y + w.ph), 0)) as [number, number, number],
      );
    }
    default:
      throw new Error(`unknown far-OOD kind ${JSON.stringify(kind)}; expected one of ${FAR_OOD_KINDS.join(', ')}`);
  }
}

/** `perKind` images of each kind (seeds seed, seed+1, ...), all `size`×`size`. */
export function farOodSet(size: number, perKind = 4, seed = 1, kinds: readonly FarOodKind[] = FAR_OOD_KINDS): FarOodSample[] {
  return kinds.flatMap((kind) => Array.from({ length: perKind }, (_, i) => ({ kind, seed: seed + i, image: farOodImage(kind, seed + i, size) })));
}

/** A heavy Gaussian blur of a photo (sigma in pixels, default 1/10 of the smaller side). */
export async function blurredPhoto(img: RawImage, sigma = Math.max(0.3, Math.min(img.width, img.height) / 10)): Promise<RawImage> {
  const { data, info } = await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels: 3 } })
    .blur(Math.max(0.3, sigma))
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`blurredPhoto: expected 3 channels, got ${info.channels}`);
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

/** A very dark version of a photo: every channel times `factor` (default 0.08). */
export function darkenedPhoto(img: RawImage, factor = 0.08): RawImage {
  if (!(factor >= 0 && factor <= 1)) throw new RangeError(`darkenedPhoto: factor must be in [0, 1] (got ${factor})`);
  const data = new Uint8Array(img.data.length);
  for (let i = 0; i < data.length; i++) data[i] = Math.round(img.data[i] * factor);
  return { data, width: img.width, height: img.height };
}
