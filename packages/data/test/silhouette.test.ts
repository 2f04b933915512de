// Silhouette segmentation and shape statistics on drawn images whose answers are known analytically.
import { describe, expect, it } from 'vitest';
import { farOodSet, measureSilhouette, type RawImage } from '../src/index';
import { maxFilter1d } from '../src/silhouette';
import seedrandom from 'seedrandom';

const S = 128;

/** Light paper (level `paper(x, y)`) with dark pixels where `inside(x, y)`. */
function draw(inside: (x: number, y: number) => boolean, paper: (x: number, y: number) => number = () => 230, ink = 40, size = S): RawImage {
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const v = inside(x, y) ? ink : paper(x, y);
      data.fill(Math.round(v), (y * size + x) * 3, (y * size + x) * 3 + 3);
    }
  }
  return { data, width: size, height: size };
}

const rect = (x0: number, y0: number, w: number, h: number) => (x: number, y: number) => x >= x0 && x < x0 + w && y >= y0 && y < y0 + h;
const ring = (cx: number, cy: number, r: number, R: number) => (x: number, y: number) => {
  const d2 = (x - cx) ** 2 + (y - cy) ** 2;
  return d2 <= R * R && d2 > r * r;
};

describe('measureSilhouette', () => {
  it('a 60x12 bar: elongation 5 (L/W), no hole, fills its box, area 720 pixels', () => {
    const s = measureSilhouette(draw(rect(30, 50, 60, 12))).shape!;
    // Pixel coordinates 0..L-1 have variance (L²-1)/12; a pixel's own 1/12 makes it L²/12.
    expect(s.elongation).toBeCloseTo(5, 6);
    expect(s.holeFraction).toBe(0);
    expect(s.extent).toBeCloseTo(1, 6);
    expect(s.areaFraction).toBeCloseTo(720 / (S * S), 9);
    expect(s.clutter).toBe(0);
    expect(s.touchesEdge).toBe(false);
    // grey 40 on paper 230.
    expect(s.contrast).toBeCloseTo(1 - 40 / 230, 2);
  });

  it('the same bar turned by 30°: elongation still about 5', () => {
    const c = Math.cos(Math.PI / 6);
    const sn = Math.sin(Math.PI / 6);
    const s = measureSilhouette(draw((x, y) => Math.abs((x - 64) * c + (y - 64) * sn) < 30 && Math.abs(-(x - 64) * sn + (y - 64) * c) < 6)).shape!;
    expect(s.elongation).toBeGreaterThan(4.6);
    expect(s.elongation).toBeLessThan(5.4);
    expect(s.extent).toBeGreaterThan(0.85);
  });

  it('a ring of radii 8 and 16: round, hole fraction (r/R)² = 1/4', () => {
    const s = measureSilhouette(draw(ring(64, 64, 8, 16))).shape!;
    expect(s.elongation).toBeLessThan(1.05);
    expect(s.holeFraction).toBeGreaterThan(0.2);
    expect(s.holeFraction).toBeLessThan(0.3);
    // A solid disc of the same size has no hole.
    expect(measureSilhouette(draw((x, y) => (x - 64) ** 2 + (y - 64) ** 2 <= 256)).shape!.holeFraction).toBe(0);
  });

  it('finds a small part on vignetted paper', () => {
    // Paper 240 in the centre falling to 170 in the corners; the part is a 20x4 bar of grey 60.
    const paper = (x: number, y: number) => 240 - 70 * (((x - 64) ** 2 + (y - 64) ** 2) / (2 * 64 ** 2));
    const sil = measureSilhouette(draw(rect(70, 40, 20, 4), paper, 60));
    expect(sil.shape).not.toBeNull();
    expect(sil.shape!.areaFraction * S * S).toBe(80);
    expect(sil.shape!.elongation).toBeCloseTo(5, 6);
    expect(sil.shape!.clutter).toBe(0);
    expect(sil.darkFraction * S * S).toBe(80);
  });

  it('the largest dark component is the object; the other dark pixels are clutter', () => {
    const s = measureSilhouette(draw((x, y) => rect(20, 20, 40, 10)(x, y) || rect(90, 90, 10, 10)(x, y))).shape!;
    expect(s.areaFraction * S * S).toBe(400);
    expect(s.clutter).toBeCloseTo(100 / 400, 9);
  });

  it('blank, black and tiny-speck frames have no object; generated far-OOD images never throw', () => {
    expect(measureSilhouette(draw(() => false)).shape).toBeNull();
    expect(measureSilhouette(draw(() => false, () => 0)).shape).toBeNull();
    expect(measureSilhouette(draw(rect(10, 10, 2, 2))).shape).toBeNull(); // 4 pixels < minArea of the frame
    for (const f of farOodSet(64, 2, 1)) {
      const s = measureSilhouette(f.image);
      if (s.shape) expect(Object.values(s.shape).every((v) => typeof v === 'boolean' || Number.isFinite(v))).toBe(true);
    }
  });

  it('is deterministic and checks its input', () => {
    const img = draw(ring(50, 70, 5, 12));
    expect(measureSilhouette(img)).toEqual(measureSilhouette(img));
    expect(() => measureSilhouette({ data: new Uint8Array(10), width: 4, height: 4 })).toThrow(/10 bytes for 4x4x3/);
    expect(() => measureSilhouette(img, { darkRatio: 1.5 })).toThrow(/darkRatio/);
  });
});

describe('maxFilter1d', () => {
  /** The definition: the maximum over the window clipped at the line's ends. */
  function naive(src: Float32Array, n: number, stride: number, count: number, step: number, r: number): Float32Array {
    const dst = new Float32Array(src.length);
    for (let line = 0; line < count; line++) {
      for (let i = 0; i < n; i++) {
        let m = -Infinity;
        for (let j = Math.max(0, i - r); j <= Math.min(n - 1, i + r); j++) m = Math.max(m, src[line * step + j * stride]!);
        dst[line * step + i * stride] = m;
      }
    }
    return dst;
  }

  it('equals the windowed maximum along rows and columns for radii from 1 to past the line length', () => {
    const rng = seedrandom('max-filter');
    for (const [w, h] of [[1, 1], [7, 5], [37, 23], [64, 64]]) {
      const src = Float32Array.from({ length: w * h }, () => Math.round(rng() * 255));
      for (const r of [1, 2, 3, 5, 11, 40, 100]) {
        const rows = new Float32Array(w * h);
        maxFilter1d(src, rows, w, 1, h, w, r);
        expect(Array.from(rows)).toEqual(Array.from(naive(src, w, 1, h, w, r)));
        const cols = new Float32Array(w * h);
        maxFilter1d(src, cols, h, w, w, 1, r);
        expect(Array.from(cols)).toEqual(Array.from(naive(src, h, w, w, 1, r)));
      }
    }
  });
});
