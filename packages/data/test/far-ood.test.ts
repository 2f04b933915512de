// Far-OOD generators: deterministic per seed, right size, and what each kind claims to be.
import { describe, expect, it } from 'vitest';
import { blurredPhoto, darkenedPhoto, farOodImage, farOodSet, FAR_OOD_KINDS } from '../src/far-ood';

function variance(d: Uint8Array): number {
  let s = 0;
  let s2 = 0;
  for (const v of d) {
    s += v;
    s2 += v * v;
  }
  return s2 / d.length - (s / d.length) ** 2;
}

describe('far-OOD images', () => {
  for (const kind of FAR_OOD_KINDS) {
    it(`${kind}: same seed same pixels, other seed other pixels, requested size`, () => {
      const a = farOodImage(kind, 7, 40, 30);
      const b = farOodImage(kind, 7, 40, 30);
      const c = farOodImage(kind, 8, 40, 30);
      expect([a.width, a.height, a.data.length]).toEqual([40, 30, 40 * 30 * 3]);
      expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
      expect(Buffer.from(a.data).equals(Buffer.from(c.data))).toBe(false);
    });
  }

  it('blank is one colour; noise has the variance of uniform bytes', () => {
    const blank = farOodImage('blank', 1, 16).data;
    for (let i = 3; i < blank.length; i++) expect(blank[i]).toBe(blank[i % 3]);
    expect(variance(farOodImage('noise', 1, 64).data)).toBeGreaterThan(4500); // uniform 0..255: ≈ 5461
  });

  it('farOodSet gives perKind images of every kind', () => {
    const set = farOodSet(8, 3, 5);
    expect(set).toHaveLength(3 * FAR_OOD_KINDS.length);
    expect(new Set(set.map((s) => s.kind))).toEqual(new Set(FAR_OOD_KINDS));
    expect(set.every((s) => s.image.width === 8 && s.image.height === 8)).toBe(true);
  });

  it('blurredPhoto keeps the size and smooths; darkenedPhoto scales every byte', async () => {
    const img = farOodImage('noise', 2, 64);
    const blurred = await blurredPhoto(img, 6);
    expect([blurred.width, blurred.height, blurred.data.length]).toEqual([64, 64, 64 * 64 * 3]);
    expect(variance(blurred.data)).toBeLessThan(variance(img.data) / 4);
    const dark = darkenedPhoto(img, 0.1);
    expect(Array.from(dark.data.slice(0, 6))).toEqual(Array.from(img.data.slice(0, 6), (v) => Math.round(v * 0.1)));
    expect(() => darkenedPhoto(img, 2)).toThrow(/factor/);
  });
});
