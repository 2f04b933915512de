// Small file helpers. Every write goes to a temp name beside the target and is renamed into place,
// so a reader (or a crash) never sees half a file or half a folder.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { readJsonFile, writeFileAtomic } from '@parts/models';

export { writeFileAtomic };

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

/** One reader of JSON files for the workspace (@parts/models). */
export const readJson = readJsonFile;

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/** Total size in bytes of the regular files under dir. */
export async function dirSize(dir: string): Promise<number> {
  let total = 0;
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += await dirSize(p);
    else if (e.isFile()) total += (await fs.stat(p)).size;
  }
  return total;
}

/** A fresh, unused sibling path of `target` for building a replacement. */
export function siblingTemp(target: string, tag = 'tmp'): string {
  return path.join(path.dirname(target), `.${tag}-${path.basename(target)}-${randomBytes(4).toString('hex')}`);
}

/** Whether two dataset paths name the same folder (symlinks and `..` resolved where the folder exists). */
export async function samePath(a: string, b: string): Promise<boolean> {
  const real = (p: string) => fs.realpath(p).catch(() => path.resolve(p));
  return (await real(a)) === (await real(b));
}
