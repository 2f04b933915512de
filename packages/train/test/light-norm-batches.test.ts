// Training batches with a light normalisation: the photo is normalised first and augmented after,
// so a photo under another lamp yields the same augmented batch, and the augmentation's brightness
// jitter still reaches the network (normalising after it would undo the jitter).
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import { AUGMENT_NONE, applyShift, makeRng, normaliseLight, type RawImage } from '@parts/data';
import { imagesToBatch } from '@parts/models';
import { makeBatch, type BatchSpec, type ImageSet } from '../src/image-set';

beforeAll(async () => {
  await initBackend('cpu', () => {});
});

function photo(s = 16): RawImage {
  const data = new Uint8Array(s * s * 3);
  for (let i = 0; i < s * s; i++) {
    const x = i % s, y = Math.floor(i / s);
    const k = x >= 5 && x < 11 && y >= 7 && y < 9 ? 0.3 : 1;
    data.set([Math.round(150 * k), Math.round(168 * k), Math.round(142 * k)], i * 3);
  }
  return { data, width: s, height: s };
}

async function values(t: { x: { data(): Promise<unknown>; dispose(): void }; y: { dispose(): void } }): Promise<Float32Array> {
  const v = (await t.x.data()) as Float32Array;
  t.x.dispose();
  t.y.dispose();
  return v;
}

describe('makeBatch with lightNorm paper', () => {
  const spec: BatchSpec = { imgSize: 16, preprocess: 'rescale01', lightNorm: 'paper', numClasses: 2, outputActivation: 'softmax' };
  const jitter = { ...AUGMENT_NONE, brightness: 0.3 };

  it('augments the normalised photo: same batch under a dimmer lamp, jitter kept', async () => {
    const img = photo();
    const dim = await applyShift(img, 'brightness', 0.7);
    const set = (im: RawImage): ImageSet => ({ images: [im], labels: [0], files: ['a.png'] });
    const a = await values(makeBatch(set(img), [0], spec, { rng: makeRng('s'), opts: jitter }));
    const b = await values(makeBatch(set(dim), [0], spec, { rng: makeRng('s'), opts: jitter }));
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    expect(worst).toBeLessThanOrEqual(2.5 / 255);
    const normalised = imagesToBatch([normaliseLight(img, 'paper')], { ...spec, lightNorm: 'none' });
    const n = (await normalised.data()) as Float32Array;
    normalised.dispose();
    // The drawn brightness factor moved the paper away from the normalised level.
    expect(Math.abs(a[1] - n[1]) * 255).toBeGreaterThan(2);
    // Without augmentation the batch is the normalised photo itself.
    const plain = await values(makeBatch(set(dim), [0], spec));
    expect(Math.max(...Array.from(plain, (v, i) => Math.abs(v - n[i])))).toBeLessThanOrEqual(2.5 / 255);
  });
});
