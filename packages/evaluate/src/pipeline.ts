// Evaluate many runs, turning every per-run failure into a 'bad' entry rather than an exception.
import path from 'node:path';
import type { SplitName } from '@parts/data';
import { evaluateRun } from './evaluation';
import { evaluationFileName } from './evaluation-record';
import type { RobustnessPreset } from './robustness-budget';
import type { Evaluation } from './evaluation-record';
import type { ReportRun } from './leaderboard';
import { listRunDirs, readRun } from '@parts/train';
import type { EngineRequest } from '@parts/models';

export interface EvaluateRunsOptions {
  /** Folder holding run folders (all of them are evaluated)… */
  runsDir?: string;
  /** …or explicit run folders. */
  runDirs?: string[];
  data?: string;
  split?: SplitName;
  log?: (msg: string) => void;
  /** Robustness grid of each evaluation (default 'quick'). */
  robustness?: RobustnessPreset;
  /** Grad-CAM overlays in each evaluation (default true). */
  gradcam?: boolean;
  /** Where the class probabilities are computed (see EvaluateRunOptions.engine); default 'tfjs'. */
  engine?: EngineRequest;
  /** Injected for tests; default evaluateRun. */
  evaluate?: (runDir: string, o: { data?: string; split?: SplitName; robustness?: RobustnessPreset; gradcam?: boolean; engine?: EngineRequest }) => Promise<Evaluation>;
}

export async function evaluateRuns(opts: EvaluateRunsOptions): Promise<ReportRun[]> {
  const log = opts.log ?? (() => {});
  const evaluate = opts.evaluate ?? evaluateRun;
  const dirs = opts.runDirs?.length ? opts.runDirs.map((d) => path.resolve(d)) : opts.runsDir ? await listRunDirs(opts.runsDir) : [];
  const out: ReportRun[] = [];
  for (const dir of dirs) {
    const info = await readRun(dir);
    const base = {
      runId: info.runId,
      runDir: dir,
      arch: info.config?.arch,
      mode: info.config?.mode,
      history: info.history,
    };
    if (info.status !== 'complete') {
      log(`✗ ${info.runId}: ${info.problems.join('; ')}`);
      out.push({ ...base, status: 'bad', reason: info.problems.join('; ') });
      continue;
    }
    const t0 = Date.now();
    try {
      const evaluation = await evaluate(dir, { data: opts.data, split: opts.split, robustness: opts.robustness, gradcam: opts.gradcam, engine: opts.engine });
      log(
        `✓ ${info.runId}: accuracy ${(evaluation.accuracy * 100).toFixed(1)}% (${evaluation.correct}/${evaluation.n}), ` +
          `balanced ${(evaluation.balancedAccuracy * 100).toFixed(1)}%, log loss ${evaluation.logLoss.toFixed(3)} ` +
          `→ ${evaluationFileName(evaluation.split, evaluation.data.root, evaluation.data.sameAsTraining, !!evaluation.data.changed?.length)} [${((Date.now() - t0) / 1000).toFixed(1)}s` +
          (evaluation.robustnessSummary ? `, of which robustness ${evaluation.robustnessSummary.seconds.toFixed(1)}s` : '') +
          ']',
      );
      for (const c of evaluation.data.changed ?? []) log(`  ! ${info.runId}: the dataset changed since training (${c}): not its own test split any more`);
      out.push({ ...base, arch: evaluation.arch, mode: evaluation.mode, status: 'ok', evaluation });
    } catch (e) {
      const reason = `evaluation failed: ${(e as Error).message}`;
      log(`✗ ${info.runId}: ${reason}`);
      out.push({ ...base, status: 'bad', reason });
    }
  }
  return out;
}
