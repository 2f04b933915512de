import { describe, expect, it } from 'vitest';
import { applyAugment, augment, AUGMENT_NONE, AUGMENT_STUDY, drawAugmentParams, makeRng, quarterTurnVariants, type AugmentParams, type RawImage } from '../src/index';

/** A deterministic textured test image. */
function testImage(w: number, h: number): RawImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      data[o] = (x * 5 + y) & 255;
      data[o + 1] = (y * 7 + ((x * y) >> 3)) & 255;
      data[o + 2] = (x ^ y) & 255;
    }
  }
  return { data, width: w, height: h };
}
const at = (img: RawImage, x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));
const identity: AugmentParams = { rotationDeg: 0, tx: 0, ty: 0, shearDeg: 0, zx: 1, zy: 1, hflip: false, vflip: false, brightness: 1, contrast: 1 };

describe('augment', () => {
  const img = testImage(64, 48);

  it('is reproducible from the seed, byte for byte', () => {
    const a = augment(img, makeRng(123), AUGMENT_STUDY);
    const b = augment(img, makeRng(123), AUGMENT_STUDY);
    const c = augment(img, makeRng(124), AUGMENT_STUDY);
    expect(Buffer.from(b.data).equals(Buffer.from(a.data))).toBe(true);
    expect(Buffer.from(c.data).equals(Buffer.from(a.data))).toBe(false);
    // A stream of images: the n-th image depends only on the seed.
    const rng1 = makeRng('run');
    const rng2 = makeRng('run');
    for (let i = 0; i < 3; i++) {
      expect(Buffer.from(augment(img, rng1, AUGMENT_STUDY).data).equals(Buffer.from(augment(img, rng2, AUGMENT_STUDY).data))).toBe(true);
    }
  });

  it('returns an exact copy when every option is off, without sharing the buffer', () => {
    const out = augment(img, makeRng(5), AUGMENT_NONE);
    expect(Buffer.from(out.data).equals(Buffer.from(img.data))).toBe(true);
    expect(out.data).not.toBe(img.data);
    // Also through the warp path: a zero rotation with a flip on both axes twice is the identity.
    const twice = applyAugment(applyAugment(img, { ...identity, hflip: true, vflip: true }), { ...identity, hflip: true, vflip: true });
    expect(Buffer.from(twice.data).equals(Buffer.from(img.data))).toBe(true);
  });

  it('draws parameters inside the configured ranges, the same number of draws for any options', () => {
    const rng = makeRng(9);
    for (let i = 0; i < 200; i++) {
      const p = drawAugmentParams(rng, AUGMENT_STUDY, 100, 80);
      expect(Math.abs(p.rotationDeg)).toBeLessThanOrEqual(30);
      expect(Math.abs(p.tx)).toBeLessThanOrEqual(15);
      expect(Math.abs(p.ty)).toBeLessThanOrEqual(12);
      expect(Math.abs(p.shearDeg)).toBeLessThanOrEqual(0.2);
      expect(p.zx).toBeGreaterThanOrEqual(0.8);
      expect(p.zx).toBeLessThanOrEqual(1.2);
      // The study preset carries the line's light (LINE_LIGHT): brightness ±30%, casts ±0.2.
      expect(Math.abs(p.brightness - 1)).toBeLessThanOrEqual(0.3);
      expect(Math.abs(p.colourCast!)).toBeLessThanOrEqual(0.2);
    }
    // Switching flips off leaves the rotation drawn from the same stream unchanged.
    const a = drawAugmentParams(makeRng(1), AUGMENT_STUDY, 10, 10);
    const b = drawAugmentParams(makeRng(1), { ...AUGMENT_STUDY, hflip: false, vflip: false }, 10, 10);
    expect(b.rotationDeg).toBe(a.rotationDeg);
    expect(b.brightness).toBe(a.brightness);
    expect(b.colourCast).toBe(a.colourCast);
  });

  it('flips exactly', () => {
    const h = applyAugment(img, { ...identity, hflip: true });
    const v = applyAugment(img, { ...identity, vflip: true });
    for (const [x, y] of [
      [0, 0],
      [10, 5],
      [63, 47],
    ]) {
      expect(at(h, x, y)).toEqual(at(img, 63 - x, y));
      expect(at(v, x, y)).toEqual(at(img, x, 47 - y));
    }
  });

  it('rotates 180° about the centre like a double flip, and 90° like a transpose', () => {
    const r180 = applyAugment(img, { ...identity, rotationDeg: 180 });
    const both = applyAugment(img, { ...identity, hflip: true, vflip: true });
    expect(Buffer.from(r180.data).equals(Buffer.from(both.data))).toBe(true);

    const sq = testImage(32, 32);
    const r90 = applyAugment(sq, { ...identity, rotationDeg: 90 });
    // Output (x, y) samples the input at M·(p - c) + c with M = [[0,-1],[1,0]].
    for (const [x, y] of [
      [0, 0],
      [5, 20],
      [31, 7],
    ]) {
      expect(at(r90, x, y)).toEqual(at(sq, 31 - y, x));
    }
  });

  it('fills by reflection (d c b a | a b c d)', () => {
    const shifted = applyAugment(img, { ...identity, tx: -3 });
    // Output x samples input x - 3; x = 0,1,2 reflect to 2,1,0.
    for (let x = 0; x < 3; x++) expect(at(shifted, x, 10)).toEqual(at(img, 2 - x, 10));
    expect(at(shifted, 10, 10)).toEqual(at(img, 7, 10));
    const nearest = applyAugment(img, { ...identity, tx: -3 }, 'nearest');
    for (let x = 0; x < 3; x++) expect(at(nearest, x, 10)).toEqual(at(img, 0, 10));
    const constant = applyAugment(img, { ...identity, tx: -3 }, 'constant', 7);
    for (let x = 0; x < 3; x++) expect(at(constant, x, 10)).toEqual([7, 7, 7]);
  });

  it('scales brightness and contrast', () => {
    const flat: RawImage = { data: new Uint8Array(4 * 4 * 3).fill(100), width: 4, height: 4 };
    expect(at(applyAugment(flat, { ...identity, brightness: 1.2 }), 1, 1)).toEqual([120, 120, 120]);
    // Contrast pivots on the mean, so a flat image is unchanged by it.
    expect(at(applyAugment(flat, { ...identity, contrast: 1.5 }), 1, 1)).toEqual([100, 100, 100]);
    const two: RawImage = { data: new Uint8Array([50, 50, 50, 150, 150, 150]), width: 2, height: 1 };
    expect(Array.from(applyAugment(two, { ...identity, contrast: 2 }).data)).toEqual([0, 0, 0, 200, 200, 200]);
  });

  it('takes a few ms for 256×256', () => {
    const big = testImage(256, 256);
    const rng = makeRng(1);
    augment(big, rng, AUGMENT_STUDY); // warm-up (JIT)
    const n = 20;
    // CPU time of this process, not the wall clock: other processes on a shared machine do not count.
    const t = process.cpuUsage();
    for (let i = 0; i < n; i++) augment(big, rng, AUGMENT_STUDY);
    const used = process.cpuUsage(t);
    const ms = (used.user + used.system) / 1000 / n;
    // Loose bound: typically 2-4 ms.
    expect(ms).toBeLessThan(25);
  });
});

describe('quarterTurnVariants', () => {
  it('turns a square input by 90°, 180° and 270°, every pixel kept, and refuses a non-square one', () => {
    const sq = testImage(16, 16);
    const [t90, t180, t270] = quarterTurnVariants(sq);
    for (const [x, y] of [
      [0, 0],
      [3, 11],
      [15, 6],
    ]) {
      // Clockwise, as the `turn` shift: a pixel at (x, y) goes to (15 − y, x) at 90°.
      expect(at(t90, 15 - y, x)).toEqual(at(sq, x, y));
      expect(at(t180, 15 - x, 15 - y)).toEqual(at(sq, x, y));
      expect(at(t270, y, 15 - x)).toEqual(at(sq, x, y));
    }
    expect(quarterTurnVariants(t90)[2].data).toEqual(sq.data);
    expect(() => quarterTurnVariants(testImage(16, 12))).toThrow(/16x12 is not square/);
  });
});
