import { describe, expect, it } from 'vitest';
import { applyShift, DEFAULT_SHIFTS, LINE_TURN_SHIFTS, validateShifts, type RawImage } from '../src/index';

/** Light gray background with a dark square of side `side` centred (or at x0, y0). */
function photo(w = 120, h = 90, side = 30, x0 = (w - side) >> 1, y0 = (h - side) >> 1): RawImage {
  const data = new Uint8Array(w * h * 3).fill(200);
  for (let y = y0; y < y0 + side; y++) for (let x = x0; x < x0 + side; x++) data.set([30, 30, 30], (y * w + x) * 3);
  return { data, width: w, height: h };
}
const mean = (img: RawImage, c?: number) => {
  let s = 0, n = 0;
  for (let i = 0; i < img.data.length; i++) if (c === undefined || i % 3 === c) (s += img.data[i]), n++;
  return s / n;
};
const std = (img: RawImage) => {
  const m = mean(img);
  return Math.sqrt(img.data.reduce((s, v) => s + (v - m) ** 2, 0) / img.data.length);
};
const darkCount = (img: RawImage) => {
  let n = 0;
  for (let i = 0; i < img.width * img.height; i++) if (img.data[i * 3] < 115) n++;
  return n;
};
const edgeEnergy = (img: RawImage) => {
  let s = 0;
  for (let i = 3; i < img.data.length; i++) s += (img.data[i] - img.data[i - 3]) ** 2;
  return s;
};
const diff = (a: RawImage, b: RawImage) => a.data.reduce((s, v, i) => s + Math.abs(v - b.data[i]), 0) / a.data.length;

describe('applyShift', () => {
  it('every default shift and level keeps the size, changes the photo and is reproducible', async () => {
    const img = photo(400, 300, 80, 50, 40);
    for (const s of DEFAULT_SHIFTS) {
      for (const p of s.params) {
        const a = await applyShift(img, s.name, p, { seed: 1, key: 'x.jpg' });
        const b = await applyShift(img, s.name, p, { seed: 1, key: 'x.jpg' });
        expect([a.width, a.height, a.data.length], `${s.name} ${p}`).toEqual([img.width, img.height, img.data.length]);
        expect(diff(a, img), `${s.name} ${p} changes the photo`).toBeGreaterThan(0);
        expect(Buffer.from(a.data).equals(Buffer.from(b.data)), `${s.name} ${p} reproducible`).toBe(true);
      }
    }
    // The input is left alone.
    expect(Buffer.from(img.data).equals(Buffer.from(photo(400, 300, 80, 50, 40).data))).toBe(true);
  });

  it('does what each shift says', async () => {
    const img = photo();
    expect(mean(await applyShift(img, 'brightness', 0.5))).toBeCloseTo(mean(img) / 2, 0);
    expect(std(await applyShift(img, 'contrast', 0.5))).toBeCloseTo(std(img) / 2, 0);
    expect(edgeEnergy(await applyShift(img, 'blur', 0.02))).toBeLessThan(edgeEnergy(img) * 0.9);
    const gray: RawImage = { data: new Uint8Array(200 * 200 * 3).fill(128), width: 200, height: 200 };
    expect(std(await applyShift(gray, 'noise', 16))).toBeGreaterThan(15);
    expect(std(await applyShift(gray, 'noise', 16))).toBeLessThan(17);
    // Noise depends on the seed and the photo's key.
    const n1 = await applyShift(gray, 'noise', 16, { seed: 1, key: 'a' });
    expect(diff(n1, await applyShift(gray, 'noise', 16, { seed: 2, key: 'a' }))).toBeGreaterThan(5);
    expect(diff(n1, await applyShift(gray, 'noise', 16, { seed: 1, key: 'b' }))).toBeGreaterThan(5);
    // Lower JPEG quality, larger error.
    expect(diff(await applyShift(img, 'jpeg', 5), img)).toBeGreaterThan(diff(await applyShift(img, 'jpeg', 50), img));
    // A zoom of 1.5 makes the centred part 1.5² times larger.
    expect(darkCount(await applyShift(img, 'scale', 1.5)) / darkCount(img)).toBeCloseTo(2.25, 1);
    const cast = await applyShift(img, 'colour-cast', 0.2);
    expect(mean(cast, 0) / mean(cast, 2)).toBeCloseTo(1.2 / 0.8, 1);
    // Clockwise rotation by 90° about the centre moves a mark left of centre to above it; the
    // corners are filled with the background, so the dark area is kept.
    const sq = photo(90, 90, 10, 10, 40);
    const r = await applyShift(sq, 'rotation', 90);
    const at = (im: RawImage, x: number, y: number) => im.data[(y * im.width + x) * 3];
    expect(at(sq, 15, 45)).toBe(30);
    expect(at(r, 44, 15)).toBeLessThan(60);
    expect(at(r, 15, 45)).toBeGreaterThan(180);
    expect(Math.abs(darkCount(r) - darkCount(sq))).toBeLessThan(10);
  });

  it('turn: the whole photo by quarter turns, every pixel kept (a landscape photo turned by 90° is portrait)', async () => {
    // A dark square near the top-left corner of a 120×90 photo, with one marked pixel.
    const img = photo(120, 90, 20, 10, 5);
    img.data.set([255, 0, 0], (7 * 120 + 12) * 3);
    const at = (im: RawImage, x: number, y: number) => [...im.data.subarray((y * im.width + x) * 3, (y * im.width + x) * 3 + 3)];
    expect(LINE_TURN_SHIFTS.flatMap((s) => s.params.map((p) => `${s.name} ${p}`))).toEqual(['turn 90', 'turn 180', 'turn 270']);
    const t90 = await applyShift(img, 'turn', 90);
    const t180 = await applyShift(img, 'turn', 180);
    const t270 = await applyShift(img, 'turn', 270);
    expect([t90.width, t90.height, t180.width, t180.height, t270.width, t270.height]).toEqual([90, 120, 120, 90, 90, 120]);
    // Clockwise: (x, y) goes to (h − 1 − y, x) at 90°, (w − 1 − x, h − 1 − y) at 180°, (y, w − 1 − x) at 270°.
    expect(at(t90, 90 - 1 - 7, 12)).toEqual([255, 0, 0]);
    expect(at(t180, 120 - 1 - 12, 90 - 1 - 7)).toEqual([255, 0, 0]);
    expect(at(t270, 7, 120 - 1 - 12)).toEqual([255, 0, 0]);
    // Lossless: the same pixels, and four quarter turns give the photo back.
    expect([...t90.data].sort().join()).toBe([...img.data].sort().join());
    const back = await applyShift(await applyShift(t90, 'turn', 180), 'turn', 90);
    expect(Buffer.from(back.data).equals(Buffer.from(img.data))).toBe(true);
    expect(darkCount(t90)).toBe(darkCount(img));
  });

  it('rejects bad parameters and unknown shifts, naming them', async () => {
    await expect(applyShift(photo(), 'turn', 45)).rejects.toThrow(/turn: parameter 45 must be a multiple of 90/);
    await expect(applyShift(photo(), 'jpeg', 0)).rejects.toThrow(/jpeg: parameter 0/);
    await expect(applyShift(photo(), 'scale', 0.5)).rejects.toThrow(/scale.*>= 1/);
    expect(() => validateShifts([{ name: 'fog' as never, params: [1] }])).toThrow(/shifts\[0\].*fog/);
    expect(() => validateShifts([{ name: 'blur', params: [] }])).toThrow(/blur.*at least one/);
  });
});
