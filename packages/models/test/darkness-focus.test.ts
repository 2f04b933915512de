import { describe, expect, it } from 'vitest';
import type { RawImage } from '@parts/data';
import { darknessFocus, DARKNESS_FOCUS_MIN, invertMap, rollMapX, uniformMap, type ScalarMap } from '../src/index';

// 40×20 light-grey paper (luma 200) with a black part at x 5..9, y 5..14 (50 of 800 pixels).
const W = 40, H = 20;
const inPart = (x: number, y: number) => x >= 5 && x < 10 && y >= 5 && y < 15;
function photo(): RawImage {
  const data = new Uint8Array(W * H * 3).fill(200);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (inPart(x, y)) data.fill(0, (y * W + x) * 3, (y * W + x) * 3 + 3);
  return { data, width: W, height: H };
}
function mapOf(f: (x: number, y: number) => number): ScalarMap {
  const data = new Float32Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) data[y * W + x] = f(x, y);
  return { data, width: W, height: H };
}

describe('darknessFocus', () => {
  const img = photo();
  // darkness: part 1, paper 1 - 200/255 = 0.2157; mean over the photo = (50 + 750 × 0.2157) / 800.
  const dPaper = 1 - 200 / 255;
  const meanDark = (50 * 1 + 750 * dPaper) / 800;

  it('is 1 for a uniform map and the darkness ratio for a map on the part or on the paper', () => {
    expect(darknessFocus(uniformMap(W, H, 0.3), img)).toBeCloseTo(1, 6);
    expect(darknessFocus(mapOf((x, y) => (inPart(x, y) ? 1 : 0)), img)).toBeCloseTo(1 / meanDark, 5);
    expect(darknessFocus(mapOf((x, y) => (inPart(x, y) ? 0 : 1)), img)).toBeCloseTo(dPaper / meanDark, 5);
  });

  it('weights by the heat: half the heat on the part gives the mean of both darknesses', () => {
    // 50 part pixels at 1 and 750 paper pixels at 50/750: equal heat on both.
    const m = mapOf((x, y) => (inPart(x, y) ? 1 : 50 / 750));
    expect(darknessFocus(m, img)).toBeCloseTo((1 + dPaper) / 2 / meanDark, 5);
    // Scaling the map changes nothing.
    expect(darknessFocus({ ...m, data: m.data.map((v) => v * 7) }, img)).toBeCloseTo(darknessFocus(m, img), 6);
  });

  it('passes a map on the part and fails uniform, inverted and shifted maps', () => {
    const blob = mapOf((x, y) => Math.exp(-((x - 7) ** 2 + (y - 10) ** 2) / 18));
    expect(darknessFocus(blob, img)).toBeGreaterThanOrEqual(DARKNESS_FOCUS_MIN);
    expect(darknessFocus(uniformMap(W, H), img)).toBeLessThan(DARKNESS_FOCUS_MIN);
    expect(darknessFocus(invertMap(blob), img)).toBeLessThan(1);
    expect(darknessFocus(rollMapX(blob, W / 2), img)).toBeLessThan(1);
  });

  it('is NaN without heat or without any dark pixel, and rejects a map of another size', () => {
    expect(darknessFocus(uniformMap(W, H, 0), img)).toBeNaN();
    const white: RawImage = { data: new Uint8Array(W * H * 3).fill(255), width: W, height: H };
    expect(darknessFocus(uniformMap(W, H), white)).toBeNaN();
    expect(() => darknessFocus(uniformMap(W, H + 1), img)).toThrow(/40x21 vs photo 40x20/);
  });
});
