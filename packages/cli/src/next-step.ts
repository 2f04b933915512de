// The next command to run, for errors that would otherwise leave a new user stuck. One home for
// these sentences, so every CLI points the same way.
import { existsSync } from 'node:fs';
import path from 'node:path';

export const NEXT_STEP = {
  /** Nothing promoted yet (serve, predict, diagnose). */
  noModel: 'run `pnpm study`, or `pnpm train` then `pnpm evaluate --promote`',
  /** No run folders to evaluate or promote. */
  noRuns: 'run `pnpm train` first',
  /** ImageNet weights cannot be had (offline). */
  noWeights: 'run `pnpm diagnose` to see what is missing, or train from random initialisation with `--weights none`',
  /** Nothing in model.prev. */
  noRollback: 'promote a second model first (`pnpm promote --run runs/<run>`)',
} as const;

/**
 * When `modelDir` (a model folder or a run folder) holds no classifier.json, an Error naming the
 * folder and the next step; else null. For the CLIs that need a model before they start work.
 */
export function missingModelError(modelDir: string, what = 'model to use'): Error | null {
  if (existsSync(path.join(modelDir, 'classifier.json')) || existsSync(path.join(modelDir, 'model', 'classifier.json'))) return null;
  const why = existsSync(modelDir) ? `no classifier.json in ${modelDir} (nor in its model/)` : `${modelDir} does not exist`;
  return new Error(`no ${what}: ${why}; ${NEXT_STEP.noModel}`);
}
