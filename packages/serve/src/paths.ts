import path from 'node:path';
import { repoRoot } from '@parts/data';

/** Where evaluate's promotion puts the model the service answers with. */
export function defaultModelDir(): string {
  return path.join(repoRoot(), 'packages', 'serve', 'model');
}
