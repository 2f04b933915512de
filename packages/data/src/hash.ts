import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';

// Content hashes are asked for by the check and by the fingerprint in the same run; cache them by
// path, size and mtime so a changed file is re-read.
const cache = new Map<string, string>();

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** sha256 of a file's bytes, cached per (path, size, mtime). */
export async function contentHash(file: string, bytes?: Buffer): Promise<string> {
  const st = await stat(file);
  const key = `${file}\0${st.size}\0${st.mtimeMs}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const h = sha256(bytes ?? (await readFile(file)));
  cache.set(key, h);
  return h;
}
