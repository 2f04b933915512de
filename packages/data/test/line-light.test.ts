// The line's light in the default augmentation presets, the colour cast, the fixed light variants
// the OOD detector counts as known (letterbox bars untouched), and the line-light shift grid.
import { describe, expect, it } from 'vitest';
import {
  applyAugment,
  applyShift,
  AUGMENT_NONE,
  AUGMENT_PRESETS,
  drawAugmentParams,
  LINE_LIGHT,
  LINE_LIGHT_SHIFTS,
  LINE_LIGHT_VARIANTS,
  lineLightVariants,
  makeRng,
  validateShifts,
  type AugmentParams,
  type RawImage,
} from '../src/index';

const identity: AugmentParams = { rotationDeg: 0, tx: 0, ty: 0, shearDeg: 0, zx: 1, zy: 1, hflip: false, vflip: false, brightness: 1, contrast: 1 };
const flat = (v: [number, number, number], w = 8, h = 8): RawImage => {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) data.set(v, i * 3);
  return { data, width: w, height: h };
};

describe('the line light in the augmentation presets', () => {
  it('the line-light options draw lamps from x0.7 to x1.3, contrast ±30% and warm/cold casts; the default presets stay milder; none draws none', () => {
    // The full line light as augmentation options (measured, not the default: see augment.ts).
    const full = { ...AUGMENT_PRESETS['size-preserving'], ...LINE_LIGHT };
    const rng = makeRng('light-full');
    const draws = Array.from({ length: 400 }, () => drawAugmentParams(rng, full, 64, 64));
    // The drawn lamps reach both light shifts the report measures (x0.7 and x1.25).
    expect(Math.min(...draws.map((d) => d.brightness))).toBeLessThan(0.75);
    expect(Math.max(...draws.map((d) => d.brightness))).toBeGreaterThan(1.25);
    expect(draws.some((d) => d.colourCast! > 0.15) && draws.some((d) => d.colourCast! < -0.15)).toBe(true);
    expect(draws.every((d) => Math.abs(d.colourCast!) <= 0.2 && Math.abs(d.brightness - 1) <= 0.3)).toBe(true);
    expect([AUGMENT_PRESETS.study.brightness, AUGMENT_PRESETS['size-preserving'].brightness]).toEqual([0.2, 0.15]);
    const none = drawAugmentParams(makeRng(1), AUGMENT_NONE, 8, 8);
    expect([none.brightness, none.contrast, none.colourCast]).toEqual([1, 1, 0]);
  });

  it('a warm cast raises red and lowers blue; a cold one the reverse, clipped to 0..255', () => {
    const grey = flat([100, 100, 100]);
    expect(Array.from(applyAugment(grey, { ...identity, colourCast: 0.2 }).data.slice(0, 3))).toEqual([120, 100, 80]);
    expect(Array.from(applyAugment(grey, { ...identity, colourCast: -0.2 }).data.slice(0, 3))).toEqual([80, 100, 120]);
    expect(Array.from(applyAugment(flat([250, 0, 10]), { ...identity, colourCast: 0.2 }).data.slice(0, 3))).toEqual([255, 0, 8]);
  });
});

describe('lineLightVariants', () => {
  it('lights the photo five ways, in LINE_LIGHT_VARIANTS order', () => {
    const v = lineLightVariants(flat([100, 100, 100]));
    expect(v).toHaveLength(LINE_LIGHT_VARIANTS.length);
    expect(v.map((im) => Array.from(im.data.slice(0, 3)))).toEqual([
      [70, 70, 70],
      [130, 130, 130],
      [100, 100, 100], // contrast about the mean of a flat photo changes nothing
      [120, 100, 80],
      [80, 100, 120],
    ]);
  });

  it('leaves letterbox bars of the fill colour as they are', () => {
    // 8×8 with grey-128 bars on top and bottom (2 rows each) around a photo of 160.
    const img = flat([160, 160, 160]);
    for (const y of [0, 1, 6, 7]) for (let x = 0; x < 8; x++) img.data.set([128, 128, 128], (y * 8 + x) * 3);
    const [dim] = lineLightVariants(img);
    expect(Array.from(dim.data.slice(0, 3))).toEqual([128, 128, 128]);
    expect(Array.from(dim.data.slice((3 * 8 + 3) * 3, (3 * 8 + 3) * 3 + 3))).toEqual([112, 112, 112]);
    expect(Array.from(dim.data.slice((7 * 8 + 7) * 3))).toEqual([128, 128, 128]);
  });
});

describe('LINE_LIGHT_SHIFTS', () => {
  it('holds the lamps x0.7 and x1.25, contrast 0.7, a warm and a cold cast, all valid', async () => {
    expect(LINE_LIGHT_SHIFTS.map((s) => `${s.name}:${s.params.join('/')}`)).toEqual(['brightness:0.7/1.25', 'contrast:0.7', 'colour-cast:0.2', 'cold-cast:0.2']);
    expect(() => validateShifts(LINE_LIGHT_SHIFTS)).not.toThrow();
    const cold = await applyShift(flat([100, 100, 100]), 'cold-cast', 0.2);
    expect(Array.from(cold.data.slice(0, 3))).toEqual([80, 100, 120]);
    await expect(applyShift(flat([1, 1, 1]), 'cold-cast', 1.5)).rejects.toThrow(/shift cold-cast: parameter 1.5 must be in \[0, 1\]/);
  });
});
