import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll } from 'vitest';

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A fresh temp folder, removed after the test file. */
export function tempDir(prefix = 'parts-data-'): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}

/** A small distinct image: a colour depending on `n`, with a square whose position depends on `n`. */
export async function distinctImage(n: number, format: 'png' | 'jpeg' | 'webp' = 'png', size = 24): Promise<Buffer> {
  const px = Buffer.alloc(size * size * 3);
  const sq = 6;
  const ox = (n * 7) % (size - sq);
  const oy = (n * 13) % (size - sq);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const inSq = x >= ox && x < ox + sq && y >= oy && y < oy + sq;
      const o = (y * size + x) * 3;
      px[o] = inSq ? 20 : (n * 37) % 256;
      px[o + 1] = inSq ? 20 : (n * 91) % 256;
      px[o + 2] = inSq ? 20 : 200;
    }
  }
  return sharp(px, { raw: { width: size, height: size, channels: 3 } })[format]().toBuffer();
}

/**
 * Writes <root>/<split>/<class>/<name> for a spec like { train: { a: 3, b: 2 }, test: { a: 1, b: 1 } }.
 * Returns the root.
 */
export async function makeDataset(spec: Record<string, Record<string, number>>, root = tempDir()): Promise<string> {
  let n = 0;
  for (const [split, classes] of Object.entries(spec)) {
    for (const [cls, count] of Object.entries(classes)) {
      const dir = path.join(root, split, cls);
      mkdirSync(dir, { recursive: true });
      for (let i = 0; i < count; i++) writeFileSync(path.join(dir, `img_${String(i).padStart(3, '0')}.png`), await distinctImage(n++));
    }
  }
  return root;
}
