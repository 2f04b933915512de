import path from 'node:path';

/** Dataset-relative path with forward slashes, so fingerprints and reports match across OSes. */
export function relPosix(root: string, file: string): string {
  return path.relative(root, file).split(path.sep).join('/');
}
