import path from 'node:path';
import { configDefaults, defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The test files `pnpm test:fast` (PARTS_FAST=1) leaves out: the accuracy gate, the end-to-end
 * training runs, and the files that take over ~20 s on a 2-core machine (measured with
 * `pnpm exec vitest run --reporter=verbose FILE`: each of these took 90-330 s on a shared, loaded
 * 2-core machine where every file left in took under 35 s). `pnpm test`, which CI runs, runs every file,
 * these first, in this order: longest first (measured in one whole run on the 2-core machine), see
 * SlowFirstSequencer.
 */
export const SLOW_TEST_FILES = [
  'packages/evaluate/test/ci-gate.test.ts', // the accuracy gate: trains every task of evaluation/baseline.json
  'packages/data/test/near-duplicates-industrial.test.ts', // the data check on every photo of neu (1,500) and casting (6,958)
  'packages/evaluate/test/loop-scenario.test.ts', // the review-retrain loop on the shared photos: trains PartsNet twice (parts, then parts + nut), evaluates, promotes
  'packages/evaluate/test/evaluation-sections.test.ts', // trains three tiny models, evaluates them with every section, spawns pnpm evaluate four times
  'packages/serve/test/browser.test.ts', // Chromium; the review loop trains a model and runs the real pnpm retrain
  'packages/train/test/data-recipe.test.ts', // profiles the real photo sets (lists casting's 6,633 photos) and trains PartsNet twice
  'packages/models/test/onnx-export.test.ts', // exports every architecture to ONNX and runs it on ONNX Runtime
  'packages/serve/test/fleet.test.ts', // 3 pnpm serve replicas, nginx and Prometheus: 2,000 requests, a replica killed and restarted
  'packages/evaluate/test/cli.test.ts', // spawns the evaluate and promote CLIs
  'packages/evaluate/test/explain-real-photos.test.ts', // trains PartsNet on the parts photos: Grad-CAM, robustness, parity
  'packages/evaluate/test/study.e2e.test.ts', // a study on generated data: trains, evaluates, promotes
  'packages/serve/test/access-cli.test.ts', // spawns pnpm keys, pnpm users and pnpm serve
  'packages/backend/test/quiet-start.test.ts', // starts the backends in child processes
  'packages/serve/test/cli.test.ts', // spawns pnpm serve
  'packages/evaluate/test/first-steps-cli.test.ts', // spawns the CLIs with bad options
  'packages/train/test/first-steps-cli.test.ts', // spawns the CLIs with bad options
  'packages/train/test/train-e2e.test.ts', // pnpm train end to end
  'packages/serve/test/recovery.test.ts', // model worker threads that die and restart
  'packages/serve/test/load.test.ts', // model worker threads under load and a promotion
  'packages/serve/test/diagnose-cli.test.ts', // spawns pnpm diagnose (Dawn probed in a child process)
  'packages/models/test/modes.test.ts', // every architecture in every training mode
  'packages/models/test/archs.test.ts', // builds every architecture (InceptionV3, ResNet50, ...)
  'packages/serve/test/log-crash.test.ts', // spawns pnpm serve twice, kill -9 during a burst of 200 predictions
  'packages/serve/test/parity.test.ts', // model worker threads refusing tampered models at start-up and hot swap
  'packages/serve/test/drift-real-photos.test.ts', // trains PartsNet on the parts photos: the drift alarm on nut photos
  'packages/evaluate/test/learning-curve.test.ts', // trains three tiny PartsNet runs for a real learning curve
  'packages/backend/test/train-e2e.test.ts', // training steps on wasm against cpu
];

// Read here, not through the settings schema where PARTS_FAST is declared: vitest loads this file
// with its own loader, before the workspace's module resolution applies.
const fastEnv = process.env.PARTS_FAST;
if (fastEnv !== undefined && fastEnv !== '' && fastEnv !== '0' && fastEnv !== '1') throw new Error(`PARTS_FAST must be 0 or 1 (got '${fastEnv}')`);
const fast = fastEnv === '1';

/**
 * Runs SLOW_TEST_FILES first, in their order, then the rest in vitest's own order. Vitest orders a
 * file it has no timing for by size, largest first, so in a fresh clone (CI) the accuracy gate, a
 * small file that takes over half of the whole run's CPU time, started about 300 s in and ran on alone
 * after every other file had finished.
 */
class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification): number => {
      const i = SLOW_TEST_FILES.indexOf(path.relative(f.project.config.root, f.moduleId).split(path.sep).join('/'));
      return i < 0 ? SLOW_TEST_FILES.length : i;
    };
    return sorted
      .map((f, k) => ({ f, k, r: rank(f) }))
      .sort((a, b) => a.r - b.r || a.k - b.k)
      .map(({ f }) => f);
  }
}

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    exclude: [...configDefaults.exclude, ...(fast ? SLOW_TEST_FILES : [])],
    // 2-core machines: heavy tfjs tests must not all run at once.
    pool: 'forks',
    maxWorkers: 2,
    sequence: { sequencer: SlowFirstSequencer },
    // Timeouts only catch a hang: a test that spawns a CLI or trains takes seconds on an idle machine
    // and minutes on a loaded one, and must not fail for that (ten minutes, the same for every test
    // and hook; the WebGPU tests size theirs from their work, see webgpuTimeout).
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});
