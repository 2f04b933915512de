import { initBackend, type BackendName } from '@parts/backend';
import { encodeRgbPng, type RawImage } from '@parts/data';
import { disposeClassifier, loadClassifier, type Classifier } from '../src/index';

/** Starts `backend`, loads the model folder `dir` on it and runs `f` with it, disposing it afterwards. */
export async function withClassifierOn<T>(backend: BackendName, dir: string, f: (c: Classifier) => Promise<T>): Promise<T> {
  await initBackend(backend, () => {});
  const c = await loadClassifier(dir);
  try {
    return await f(c);
  } finally {
    disposeClassifier(c);
  }
}

/** Seeded photos of different sizes: a dark disc of varying radius on a light background. */
export async function parityTestPhotos(n: number): Promise<{ name: string; bytes: Buffer }[]> {
  const out = [];
  for (let k = 0; k < n; k++) {
    const w = 80 + 10 * k, h = 60 + 7 * k, r = 8 + 3 * k;
    const data = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const inside = (x - w / 2) ** 2 + (y - h / 2) ** 2 < r * r;
      data.set(inside ? [40, 35 + k, 30] : [210 - k, 205, 200 + ((x * y + k) % 7)], (y * w + x) * 3);
    }
    out.push({ name: `photo-${k}.png`, bytes: await encodeRgbPng({ data, width: w, height: h } satisfies RawImage) });
  }
  return out;
}

