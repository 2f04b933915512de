// classifier.json's lightNorm: checked when present, absent in older files (read as none), and
// applied by imagesToBatch — the one place every tfjs path turns photos into network input.
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import { applyShift, type RawImage } from '@parts/data';
import { imagesToBatch, type ClassifierMeta } from '../src/index';
import { classifierFileText, validateClassifierMeta } from '../src/classifier-file';

beforeAll(async () => {
  await initBackend('cpu', () => {});
});

const base: ClassifierMeta = { format: 'parts-classifier/1', arch: 'partsnet', mode: 'scratch', labels: ['big', 'small'], imgSize: 16, fit: 'contain', preprocess: 'rescale01', outputActivation: 'softmax' };

/** Paper (R 150, G 168, B 142) with a dark square in the middle. */
function photo(s = 16): RawImage {
  const data = new Uint8Array(s * s * 3);
  for (let i = 0; i < s * s; i++) {
    const x = i % s, y = Math.floor(i / s);
    const k = x >= 6 && x < 10 && y >= 6 && y < 10 ? 0.3 : 1;
    data.set([Math.round(150 * k), Math.round(168 * k), Math.round(142 * k)], i * 3);
  }
  return { data, width: s, height: s };
}

async function batchOf(meta: ClassifierMeta, img: RawImage): Promise<Float32Array> {
  const t = imagesToBatch([img], meta);
  try {
    return (await t.data()) as Float32Array;
  } finally {
    t.dispose();
  }
}

describe('lightNorm in classifier.json and imagesToBatch', () => {
  it('is optional (older files), kept when written, and named when wrong', () => {
    expect(validateClassifierMeta({ ...base }, 'x').lightNorm).toBeUndefined();
    expect(JSON.parse(classifierFileText({ ...base, lightNorm: 'paper' }, 'x')).lightNorm).toBe('paper');
    expect(() => validateClassifierMeta({ ...base, lightNorm: 'bright' }, 'model/classifier.json')).toThrow(/model\/classifier\.json.*lightNorm must be one of none, paper \(got "bright"\)/);
  });

  it('feeds a photo under a dimmer or warmer lamp like the photo itself with paper, and as shot without', async () => {
    const img = photo();
    for (const [shift, p] of [['brightness', 0.7], ['colour-cast', 0.2]] as const) {
      const lit = await applyShift(img, shift, p);
      const [a, b] = [await batchOf({ ...base, lightNorm: 'paper' }, img), await batchOf({ ...base, lightNorm: 'paper' }, lit)];
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
      expect(worst).toBeLessThanOrEqual(1.5 / 255);
      // Paper at PAPER_LEVEL in every channel.
      expect(a[0] * 255).toBeCloseTo(170, 0);
      expect(a[2] * 255).toBeCloseTo(170, 0);
    }
    const [plain, plainDim, none] = [await batchOf(base, img), await batchOf(base, await applyShift(img, 'brightness', 0.7)), await batchOf({ ...base, lightNorm: 'none' }, img)];
    expect(plain[1] * 255).toBeCloseTo(168, 3);
    expect(plainDim[1] * 255).toBeCloseTo(118, 3);
    expect(Array.from(none)).toEqual(Array.from(plain));
  });
});
