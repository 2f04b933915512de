import { configDefaults, defineConfig } from 'vitest/config';

/**
 * The test files `pnpm test:fast` (PARTS_FAST=1) leaves out: the accuracy gate and the end-to-end
 * runs, each over ~20 s on a 2-core machine (measured one file at a time with
 * `pnpm exec vitest run --reporter=verbose FILE`). `pnpm test`, which CI runs, runs every file.
 */
export const SLOW_TEST_FILES = [
  'packages/evaluate/test/ci-gate.test.ts', // the accuracy gate: trains every task of evaluation/baseline.json
  'packages/evaluate/test/study.e2e.test.ts',
  'packages/backend/test/train-e2e.test.ts',
  'packages/train/test/train-e2e.test.ts',
  'packages/evaluate/test/evaluation-sections.test.ts', // trains three tiny models, evaluates them with every section, spawns pnpm evaluate four times
];

const fast = process.env.PARTS_FAST;
if (fast !== undefined && fast !== '0' && fast !== '1') throw new Error(`PARTS_FAST must be 0 or 1, got '${fast}'`);

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    exclude: [...configDefaults.exclude, ...(fast === '1' ? SLOW_TEST_FILES : [])],
    // 2-core machines: heavy tfjs tests must not all run at once.
    pool: 'forks',
    maxWorkers: 2,
    // Timeouts only catch a hang: a test that spawns a CLI or trains takes seconds on an idle machine
    // and minutes on a loaded one, and must not fail for that (ten minutes, the same for every test
    // and hook; the WebGPU tests size theirs from their work, see webgpuTimeout).
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});
