// The light normalisation undoes a lamp's gain per channel (brighter, dimmer, warm, cold) on a photo
// of a dark part on paper, keeps the part's darkness relative to the paper, leaves letterbox bars
// alone, and does not brighten a very dark photo into a normal one.
import { describe, expect, it } from 'vitest';
import { applyShift, CONTAIN_FILL, MAX_LIGHT_GAIN, normaliseLight, PAPER_LEVEL, paperGains, paperLevels, type RawImage } from '../src/index';

/**
 * A w×h photo: slightly vignetted, slightly green paper (R 150, G 168, B 142 in the centre, as the
 * shared bolt photos read), a dark bolt-like bar, and with `bars` rows of letterbox fill on top
 * and bottom.
 */
function partOnPaper(w = 96, h = 72, bars = 0): RawImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      if (y < bars || y >= h - bars) {
        data.set([CONTAIN_FILL.r, CONTAIN_FILL.g, CONTAIN_FILL.b], o);
        continue;
      }
      const r2 = ((x - w / 2) / w) ** 2 + ((y - h / 2) / h) ** 2;
      const v = 1 - 0.25 * r2;
      const onPart = x > w * 0.3 && x < w * 0.7 && y > h * 0.45 && y < h * 0.55;
      const k = onPart ? 0.35 : 1;
      data.set([Math.round(150 * v * k), Math.round(168 * v * k), Math.round(142 * v * k)], o);
    }
  }
  return { data, width: w, height: h };
}

function meanAbsDiff(a: RawImage, b: RawImage): number {
  let d = 0;
  for (let i = 0; i < a.data.length; i++) d += Math.abs(a.data[i] - b.data[i]);
  return d / a.data.length;
}

describe('normaliseLight (paper)', () => {
  const photo = partOnPaper();
  const ref = normaliseLight(photo, 'paper');

  it.each([
    ['brightness', 0.7],
    ['brightness', 1.25],
    ['colour-cast', 0.2],
    ['cold-cast', 0.2],
  ] as const)('gives the same input under %s %s (within 8-bit rounding), where the raw photos differ', async (shift, p) => {
    const lit = await applyShift(photo, shift, p);
    expect(meanAbsDiff(lit, photo)).toBeGreaterThan(8);
    const out = normaliseLight(lit, 'paper');
    expect(meanAbsDiff(out, ref)).toBeLessThan(1);
    let worst = 0;
    for (let i = 0; i < out.data.length; i++) worst = Math.max(worst, Math.abs(out.data[i] - ref.data[i]));
    expect(worst).toBeLessThanOrEqual(2);
  });

  it('maps each channel of the paper to the same grey and keeps the part as dark relative to it', () => {
    expect(paperLevels(ref)!.every((m) => Math.abs(m - PAPER_LEVEL) <= 1)).toBe(true);
    const w = photo.width, h = photo.height;
    const at = (img: RawImage, x: number, y: number, c: number) => img.data[(y * w + x) * 3 + c];
    const [px, py, bx, by] = [Math.round(w / 2), Math.round(h / 2), Math.round(w / 2), Math.round(h * 0.3)];
    for (let c = 0; c < 3; c++) {
      const before = at(photo, px, py, c) / at(photo, bx, by, c);
      const after = at(ref, px, py, c) / at(ref, bx, by, c);
      expect(after).toBeCloseTo(before, 1);
      expect(after).toBeLessThan(0.4);
    }
  });

  it('does not undo a contrast change (not a gain): documented limit', async () => {
    // Haze lifts the part towards the paper; a gain cannot bring it back down.
    const hazy = normaliseLight(await applyShift(photo, 'contrast', 0.5), 'paper');
    const part = ((photo.height / 2) * photo.width + photo.width / 2) * 3 + 1;
    expect(hazy.data[part] - ref.data[part]).toBeGreaterThan(20);
  });

  it('leaves letterbox bars as they are and takes the median inside them', async () => {
    const boxed = partOnPaper(96, 96, 12);
    const dim = await applyShift(boxed, 'brightness', 0.7);
    // Shifts act on the photo before fitting; re-fill the bars as decodeImage would.
    for (let y = 0; y < 96; y++) if (y < 12 || y >= 84) for (let x = 0; x < 96; x++) dim.data.set([CONTAIN_FILL.r, CONTAIN_FILL.g, CONTAIN_FILL.b], (y * 96 + x) * 3);
    const a = normaliseLight(boxed, 'paper');
    const b = normaliseLight(dim, 'paper');
    expect(a.data.subarray(0, 96 * 12 * 3).every((v) => v === 128)).toBe(true);
    expect(b.data.subarray(0, 96 * 12 * 3).every((v) => v === 128)).toBe(true);
    expect(meanAbsDiff(a, b)).toBeLessThan(1);
    expect(paperLevels(boxed)![1]).toBeGreaterThan(150);
  });

  it('clamps the gain: a very dark photo stays dark', () => {
    const dark: RawImage = { ...photo, data: photo.data.map((v) => Math.round(v * 0.08)) };
    expect(paperGains(dark)).toEqual([MAX_LIGHT_GAIN, MAX_LIGHT_GAIN, MAX_LIGHT_GAIN]);
    const out = normaliseLight(dark, 'paper');
    expect(paperLevels(out)![1]).toBeLessThan(PAPER_LEVEL / 3);
  });

  it('is the identity for none or an absent setting (models recorded before it), and names a bad one', () => {
    expect(normaliseLight(photo, 'none')).toBe(photo);
    expect(normaliseLight(photo, undefined)).toBe(photo);
    expect(() => normaliseLight(photo, 'grey-world' as never)).toThrow(/light normalisation must be none or paper, got "grey-world"/);
    expect(() => normaliseLight({ data: new Uint8Array(10), width: 4, height: 4 }, 'paper')).toThrow(/10 bytes for a 4x4 RGB image/);
  });
});
