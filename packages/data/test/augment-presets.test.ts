// Augmentation presets: 'size-preserving' keeps the part's area in pixels (the label on
// fixed-height photos) while still moving and turning it; the study's zoom does not.
import { describe, expect, it } from 'vitest';
import { augment, AUGMENT_PRESETS, AUGMENT_SIZE_PRESERVING, AUGMENT_STUDY, AUGMENT_TEXTURE, drawAugmentParams, type AugmentOptions, type RawImage } from '../src/index';
import { makeRng } from '../src/rng';

/** 64×64 light-gray image with a dark 12×12 square in the middle (a "nut"). */
function partImage(): RawImage {
  const w = 64;
  const data = new Uint8Array(w * w * 3).fill(200);
  for (let y = 26; y < 38; y++) for (let x = 26; x < 38; x++) data.fill(20, (y * w + x) * 3, (y * w + x) * 3 + 3);
  return { data, width: w, height: w };
}

const darkPixels = (img: RawImage) => {
  let n = 0;
  for (let i = 0; i < img.data.length; i += 3) if (img.data[i] < 110) n++;
  return n;
};

const centroid = (img: RawImage) => {
  let sx = 0, sy = 0, n = 0;
  for (let i = 0; i < img.data.length; i += 3) {
    if (img.data[i] < 110) {
      const p = i / 3;
      sx += p % img.width;
      sy += Math.floor(p / img.width);
      n++;
    }
  }
  return [sx / n, sy / n];
};

describe('augmentation presets', () => {
  it('lists study, size-preserving, texture and none; size-preserving has no zoom or shear', () => {
    expect(Object.keys(AUGMENT_PRESETS)).toEqual(['study', 'size-preserving', 'texture', 'none']);
    expect(AUGMENT_PRESETS['size-preserving']).toBe(AUGMENT_SIZE_PRESERVING);
    expect([AUGMENT_SIZE_PRESERVING.zoom, AUGMENT_SIZE_PRESERVING.shear]).toEqual([0, 0]);
    expect(Object.isFrozen(AUGMENT_SIZE_PRESERVING)).toBe(true);
  });

  it('size-preserving keeps the dark area within a few % over many draws, yet moves the part', () => {
    const img = partImage();
    const area = darkPixels(img);
    expect(area).toBe(144);
    const rng = makeRng('presets');
    let moved = 0;
    for (let i = 0; i < 40; i++) {
      const out = augment(img, rng, AUGMENT_SIZE_PRESERVING);
      expect(Math.abs(darkPixels(out) - area) / area).toBeLessThan(0.12);
      const [cx, cy] = centroid(out);
      if (Math.hypot(cx - 31.5, cy - 31.5) > 1.5) moved++;
    }
    expect(moved).toBeGreaterThan(20);
  });

  it("the study's zoom changes the area by more than that", () => {
    const img = partImage();
    const area = darkPixels(img);
    const zoomOnly: AugmentOptions = { ...AUGMENT_STUDY, rotation: 0, shiftX: 0, shiftY: 0, hflip: false, vflip: false, brightness: 0, contrast: 0 };
    const rng = makeRng('presets');
    const changes = Array.from({ length: 40 }, () => Math.abs(darkPixels(augment(img, rng, zoomOnly)) - area) / area);
    expect(Math.max(...changes)).toBeGreaterThan(0.2);
  });

  it('texture turns by multiples of 90° only, each about as often, and only moves the pixels of a square', () => {
    const rng = makeRng('texture');
    const turns = new Map<number, number>();
    for (let i = 0; i < 400; i++) {
      const p = drawAugmentParams(rng, AUGMENT_TEXTURE, 64, 64);
      turns.set(p.rotationDeg, (turns.get(p.rotationDeg) ?? 0) + 1);
      expect([p.zx, p.zy, Math.abs(p.shearDeg)]).toEqual([1, 1, 0]);
    }
    expect([...turns.keys()].sort((a, b) => a - b)).toEqual([0, 90, 180, 270]);
    for (const n of turns.values()) expect(n).toBeGreaterThan(70);
    // A photo that is not square is only turned by 0 or 180 degrees (a quarter turn would crop it).
    const wide = new Set(Array.from({ length: 200 }, () => drawAugmentParams(rng, AUGMENT_TEXTURE, 64, 48).rotationDeg));
    expect([...wide].sort((a, b) => a - b)).toEqual([0, 180]);

    // Without the shift and light, each output is one of the square's eight turns and flips, exactly.
    const n = 16;
    const img: RawImage = { data: new Uint8Array(n * n * 3), width: n, height: n };
    for (let i = 0; i < img.data.length; i++) img.data[i] = (i * 37 + (i >> 4)) & 255; // no symmetry
    const mapped = (f: (x: number, y: number) => [number, number]) => {
      const out = new Uint8Array(img.data.length);
      for (let y = 0; y < n; y++)
        for (let x = 0; x < n; x++) {
          const [sx, sy] = f(x, y);
          out.set(img.data.subarray((sy * n + sx) * 3, (sy * n + sx) * 3 + 3), (y * n + x) * 3);
        }
      return Buffer.from(out).toString('hex');
    };
    const m = n - 1;
    const dihedral = [
      mapped((x, y) => [x, y]),
      mapped((x, y) => [m - y, x]),
      mapped((x, y) => [m - x, m - y]),
      mapped((x, y) => [y, m - x]),
      mapped((x, y) => [m - x, y]),
      mapped((x, y) => [x, m - y]),
      mapped((x, y) => [y, x]),
      mapped((x, y) => [m - y, m - x]),
    ];
    expect(new Set(dihedral).size).toBe(8);
    const moveOnly: AugmentOptions = { ...AUGMENT_TEXTURE, shiftX: 0, shiftY: 0, brightness: 0, contrast: 0 };
    const r = makeRng('texture-pixels');
    const seen = new Set<number>();
    for (let i = 0; i < 64; i++) {
      const k = dihedral.indexOf(Buffer.from(augment(img, r, moveOnly).data).toString('hex'));
      expect(k).toBeGreaterThanOrEqual(0);
      seen.add(k);
    }
    expect(seen.size).toBe(8);
  });
});
