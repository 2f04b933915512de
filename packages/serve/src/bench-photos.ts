// The photos `pnpm bench:serve` sends: a rotating set of real photos (JPEG files of the shared
// datasets when present, else generated demo photos), each request a distinct photo. Distinct down
// to the bytes: request i carries photo i mod N with a JPEG comment segment naming i, so its
// content hash is new and the prediction log stores a new photo file for every request (the cost a
// line with a camera sees), while the pixels, and so decoding and the model's work, stay those of
// the real photo.
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateDemoDataset } from '@parts/data';

const JPEG_SOI = [0xff, 0xd8];

export function isJpeg(b: Uint8Array): boolean {
  return b.length > 4 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
}

/** The JPEG with a comment segment (COM) holding `text` right after its start marker: same pixels, other bytes. */
export function withJpegComment(jpeg: Buffer, text: string): Buffer {
  if (!isJpeg(jpeg)) throw new Error('withJpegComment: not a JPEG (no start-of-image marker)');
  const body = Buffer.from(text, 'utf8');
  if (body.length > 65533) throw new RangeError('withJpegComment: comment longer than 65533 bytes');
  const seg = Buffer.alloc(4 + body.length);
  seg[0] = 0xff;
  seg[1] = 0xfe;
  seg.writeUInt16BE(body.length + 2, 2);
  body.copy(seg, 4);
  return Buffer.concat([Buffer.from(JPEG_SOI), seg, jpeg.subarray(2)]);
}

async function jpegFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    let entries;
    try {
      entries = await fsp.readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (/\.jpe?g$/i.test(e.name)) out.push(p);
    }
  };
  await walk(root);
  return out;
}

export interface BenchPhotos {
  /** Where the photos came from, for the printout. */
  origin: string;
  files: string[];
  photos: Buffer[];
}

/**
 * Up to `max` JPEG photos from the folders (in order; missing folders skipped), spread over each
 * folder's files; when none holds any, `max` generated demo photos (640x480, the shared photos' size).
 */
export async function loadBenchPhotos(folders: readonly string[], max = 64): Promise<BenchPhotos> {
  const found: string[] = [];
  for (const f of folders) found.push(...(await jpegFiles(f)));
  if (found.length) {
    // Every k-th file, so the set spans classes and splits rather than the first folder's first photos.
    const step = Math.max(1, Math.floor(found.length / max));
    const files = found.filter((_, i) => i % step === 0).slice(0, max);
    const photos = await Promise.all(files.map((f) => fsp.readFile(f)));
    return { origin: `${files.length} photos from ${folders.join(', ')}`, files, photos: photos.filter(isJpeg) };
  }
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'parts-bench-photos-'));
  try {
    const perClass = Math.max(1, Math.ceil(max / 2));
    await generateDemoDataset(tmp, { seed: 7, trainPerClass: perClass, testPerClass: 1 });
    const files = (await jpegFiles(path.join(tmp, 'train'))).slice(0, max);
    const photos = await Promise.all(files.map((f) => fsp.readFile(f)));
    return { origin: `${photos.length} generated demo photos (no photo folder found: ${folders.join(', ')})`, files: [], photos };
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}

/** Request i's body: photo i mod N made distinct by a comment naming i (see the file header). */
export function distinctBodies(photos: readonly Buffer[], tag: string): (i: number) => Buffer {
  if (photos.length === 0) throw new Error('no photos to send');
  return (i) => withJpegComment(photos[i % photos.length]!, `parts bench ${tag} ${i}`);
}
