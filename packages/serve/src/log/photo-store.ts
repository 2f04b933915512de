// Photos of the prediction log, stored once by content (sha256) as rows of photo_blobs, written in
// the transaction of their prediction on either dialect: a photo is committed with its row or not at
// all, every replica on a shared PostgreSQL reads every photo, and recording costs no file creation
// (on a busy server, creating a file per photo cost more and blocked longer than writing its bytes
// into the database's log). Files under <dataDir>/photos/<aa>/<hash>.<ext> are a local cache for
// tools that need files (building a dataset version); a file there is written to a temporary name
// and renamed, so a reader sees the whole file or none. A data folder from before photos moved into
// the database has its photos as such files: they are read from there (see PhotoStore.read).
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { LogDatabase } from './schema';

export const PHOTOS_DIR = 'photos';
const TMP_MARK = '.tmp-';

export function photoHash(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function isPhotoHash(s: unknown): s is string {
  return typeof s === 'string' && /^[0-9a-f]{64}$/.test(s);
}

/** The extension a photo is stored under, from its first bytes (not from the client's file name). */
export function photoExtension(b: Uint8Array): string {
  const at = (i: number, ...v: number[]) => v.every((x, k) => b[i + k] === x);
  if (at(0, 0xff, 0xd8, 0xff)) return 'jpg';
  if (at(0, 0x89, 0x50, 0x4e, 0x47)) return 'png';
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'webp';
  if (at(0, 0x47, 0x49, 0x46, 0x38)) return 'gif';
  if (at(0, 0x42, 0x4d)) return 'bmp';
  if (at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a)) return 'tif';
  return 'bin';
}

export const PHOTO_TYPES: Record<string, string> = {
  jpg: 'image/jpeg', png: 'image/png', webp: 'image/webp', gif: 'image/gif', bmp: 'image/bmp', tif: 'image/tiff', bin: 'application/octet-stream',
};

export function photoPath(dataDir: string, hash: string, ext: string): string {
  return path.join(path.resolve(dataDir), PHOTOS_DIR, hash.slice(0, 2), `${hash}.${ext}`);
}

/** Shard folders made by this process (a folder removed behind its back is remade after a failed write). */
const madeDirs = new Set<string>();

function tempName(file: string): string {
  return `${file}${TMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Writes the photo's cache file (synced before the rename) unless it exists already; returns whether it wrote one. */
export async function storePhoto(dataDir: string, hash: string, ext: string, bytes: Uint8Array): Promise<boolean> {
  const file = photoPath(dataDir, hash, ext);
  try {
    const st = await fsp.stat(file);
    if (st.size === bytes.length) return false;
  } catch {
    // absent: write it
  }
  const dir = path.dirname(file);
  if (!madeDirs.has(dir)) {
    await fsp.mkdir(dir, { recursive: true });
    madeDirs.add(dir);
  }
  const tmp = tempName(file);
  try {
    const fh = await fsp.open(tmp, 'wx');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
  } catch (e) {
    madeDirs.delete(dir);
    await fsp.rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
  return true;
}

export async function removePhoto(dataDir: string, hash: string, ext: string): Promise<void> {
  await fsp.rm(photoPath(dataDir, hash, ext), { force: true });
}

/** Removes temporary files a killed process left behind. */
export async function sweepTemporaries(dataDir: string): Promise<number> {
  const root = path.join(path.resolve(dataDir), PHOTOS_DIR);
  let removed = 0;
  let dirs: string[];
  try {
    dirs = await fsp.readdir(root);
  } catch {
    return 0;
  }
  for (const d of dirs) {
    let names: string[];
    try {
      names = await fsp.readdir(path.join(root, d));
    } catch {
      continue;
    }
    for (const n of names) {
      if (!n.includes(TMP_MARK)) continue;
      await fsp.rm(path.join(root, d, n), { force: true });
      removed++;
    }
  }
  return removed;
}

/** A stored photo that is not there (no row, or its file or blob is missing). */
export class MissingPhotoError extends Error {
  constructor(readonly hash: string, where: string) {
    super(`stored photo ${hash} is missing from ${where}`);
  }
}

/** The photos of one log: rows of photo_blobs, with files of the data folder as a cache. */
export class PhotoStore {
  readonly dataDir: string;

  constructor(dataDir: string) {
    this.dataDir = path.resolve(dataDir);
  }

  /**
   * The bytes of a stored photo: its row, or (photos recorded before they moved into the database)
   * its file; MissingPhotoError when neither is there.
   */
  async read(db: Kysely<LogDatabase>, hash: string, ext: string): Promise<Buffer> {
    const row = await db.selectFrom('photo_blobs').select('content').where('hash', '=', hash).executeTakeFirst();
    if (row) return Buffer.from(row.content);
    const file = photoPath(this.dataDir, hash, ext);
    let bytes: Buffer;
    try {
      bytes = await fsp.readFile(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      throw new MissingPhotoError(hash, `the database and ${file}`);
    }
    // A file cut short (a power cut while an earlier version wrote it) is not the photo.
    if (photoHash(bytes) !== hash) throw new MissingPhotoError(hash, `the database (${file} holds other bytes)`);
    return bytes;
  }

  /** A file holding the photo: its cache file, written from the database the first time. */
  async localFile(db: Kysely<LogDatabase>, hash: string, ext: string): Promise<string> {
    const file = photoPath(this.dataDir, hash, ext);
    const st = await fsp.stat(file).catch(() => null);
    if (!st) await storePhoto(this.dataDir, hash, ext, await this.read(db, hash, ext));
    return file;
  }
}
