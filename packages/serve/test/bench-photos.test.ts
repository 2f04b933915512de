// The photos `pnpm bench:serve` sends: each request a distinct photo (new bytes, new content hash)
// with the pixels of the real photo it comes from.
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '@parts/data';
import { distinctBodies, isJpeg, loadBenchPhotos, withJpegComment } from '../src/bench-photos';
import { photoHash } from '../src/log/photo-store';
import { PARTS, tempDir } from './fixtures';

describe('bench photos', () => {
  it('a JPEG comment makes new bytes that decode to the same pixels', async () => {
    const set = await loadBenchPhotos([path.join(PARTS, 'missing-folder')], 2);
    expect(set.photos).toHaveLength(2);
    expect(set.origin).toMatch(/generated demo photos/);
    const photo = set.photos[0]!;
    const tagged = withJpegComment(photo, 'parts bench run0 7');
    expect(isJpeg(tagged)).toBe(true);
    expect(tagged.length).toBe(photo.length + 4 + 'parts bench run0 7'.length);
    expect(photoHash(tagged)).not.toBe(photoHash(photo));
    const [a, b] = await Promise.all([decodeImage(photo, { size: 64, fit: 'cover' }), decodeImage(tagged, { size: 64, fit: 'cover' })]);
    expect(Buffer.from(b.data).equals(Buffer.from(a.data))).toBe(true);
    expect(() => withJpegComment(Buffer.from('not a jpeg'), 'x')).toThrow(/not a JPEG/);
  });

  it('request bodies rotate through the photos and are all distinct', async () => {
    const dir = await tempDir('bench-photos-');
    try {
      const set = await loadBenchPhotos([dir], 3); // an empty folder: generated photos
      const body = distinctBodies(set.photos, 'run1');
      const hashes = Array.from({ length: 9 }, (_, i) => photoHash(body(i)));
      expect(new Set(hashes).size).toBe(9);
      // Request i carries photo i mod 3.
      expect(body(4).subarray(-1000).equals(set.photos[1]!.subarray(-1000))).toBe(true);
      // Another run's tag gives other bytes for the same request number.
      expect(photoHash(distinctBodies(set.photos, 'run2')(0))).not.toBe(hashes[0]);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!existsSync(PARTS))('takes real photos from the folders when present, spread over them', async () => {
    const set = await loadBenchPhotos([PARTS], 8);
    expect(set.photos).toHaveLength(8);
    expect(set.files.every((f) => f.startsWith(PARTS))).toBe(true);
    expect(new Set(set.files.map((f) => path.dirname(f))).size).toBeGreaterThan(1);
  });
});
