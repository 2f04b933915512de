/**
 * Does a heatmap sit on the object? For photos of dark parts on a light background, the "part
 * pixels" are those darker than half the photo's median luminance (partThreshold); a map that
 * explains the part weights them above its own mean.
 * Used to check Grad-CAM on real photos, and usable by reports as a sanity figure.
 */
import type { RawImage } from '@parts/data';
import type { ScalarMap } from './gradcam';

/** Rec. 601 luma, 0..255, per pixel. */
export function luminance(img: RawImage): Float32Array {
  const out = new Float32Array(img.width * img.height);
  for (let i = 0; i < out.length; i++) out[i] = 0.299 * img.data[i * 3] + 0.587 * img.data[i * 3 + 1] + 0.114 * img.data[i * 3 + 2];
  return out;
}

/**
 * Luminance below which a pixel counts as part of a dark object: half the photo's median. The
 * background is most of any product photo, so the median is the background's brightness. Otsu's
 * threshold does not work here: with a small part (an M5 bolt covers under 1% of the photo) it
 * splits the vignetted corners from the bright centre and calls a third of the background "dark".
 */
export const PART_LUMINANCE_FRACTION = 0.5;

export function partThreshold(lum: Float32Array, fraction = PART_LUMINANCE_FRACTION): number {
  const sorted = Float32Array.from(lum).sort();
  return fraction * sorted[sorted.length >> 1];
}

export interface DarkWeight {
  /** mean(map over dark pixels) / mean(map); > 1 when the map favours the dark (part) pixels. */
  ratio: number;
  /** Share of the photo's pixels in the dark class. */
  darkShare: number;
  /** Luminance threshold of the dark (part) pixels, 0..255 (partThreshold). */
  threshold: number;
}

/** How much more a map weights the photo's dark pixels than its average pixel. */
export function darkPixelWeight(map: ScalarMap, photo: RawImage): DarkWeight {
  if (map.width !== photo.width || map.height !== photo.height) throw new RangeError(`darkPixelWeight: map ${map.width}x${map.height} vs photo ${photo.width}x${photo.height}`);
  const lum = luminance(photo);
  const threshold = partThreshold(lum);
  let all = 0, dark = 0, nDark = 0;
  for (let i = 0; i < lum.length; i++) {
    all += map.data[i];
    if (lum[i] < threshold) (dark += map.data[i]), nDark++;
  }
  const meanAll = all / lum.length;
  const ratio = nDark === 0 || meanAll === 0 ? 0 : dark / nDark / meanAll;
  return { ratio, darkShare: nDark / lum.length, threshold };
}

/**
 * Darkness focus of a map: the map-weighted mean darkness over the photo's mean darkness,
 *   (Σ heat·d / Σ heat) / mean(d),  d = 1 - luma/255.
 * 1 for a uniform map (or one uncorrelated with darkness), above 1 when the heat lies on dark pixels
 * (the part, on these photos of dark parts on light paper), below 1 when it lies on the background.
 * No threshold, so a part smaller than any threshold's guess still counts. NaN for an all-zero map
 * (no evidence) or an all-white photo.
 */
export function darknessFocus(map: ScalarMap, photo: RawImage): number {
  if (map.width !== photo.width || map.height !== photo.height) throw new RangeError(`darknessFocus: map ${map.width}x${map.height} vs photo ${photo.width}x${photo.height}`);
  const lum = luminance(photo);
  let heat = 0, heatDark = 0, dark = 0;
  for (let i = 0; i < lum.length; i++) {
    const d = 1 - lum[i] / 255;
    heat += map.data[i];
    heatDark += map.data[i] * d;
    dark += d;
  }
  if (!(heat > 0) || !(dark > 0)) return Number.NaN;
  return heatDark / heat / (dark / lum.length);
}

/** The darkness focus a map must reach to count as pointing at the part. */
export const DARKNESS_FOCUS_MIN = 1.1;

/** Minimum ratio for "weights the dark pixels above the map's mean" (a margin over 1 so that a uniform map fails). */
export const DARK_WEIGHT_MIN_RATIO = 1.05;

export function weightsDarkPixels(map: ScalarMap, photo: RawImage, minRatio = DARK_WEIGHT_MIN_RATIO): boolean {
  return darkPixelWeight(map, photo).ratio > minRatio;
}

/** Map transforms for checking that a criterion can fail: 1 - m, and a circular shift along x. */
export function invertMap(map: ScalarMap): ScalarMap {
  return { ...map, data: map.data.map((v) => 1 - v) };
}

export function rollMapX(map: ScalarMap, dx: number): ScalarMap {
  const { width: w, height: h } = map;
  const out = new Float32Array(map.data.length);
  const s = ((Math.round(dx) % w) + w) % w;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + ((x + s) % w)] = map.data[y * w + x];
  return { ...map, data: out };
}

export function uniformMap(width: number, height: number, value = 0.5): ScalarMap {
  return { data: new Float32Array(width * height).fill(value), width, height };
}
