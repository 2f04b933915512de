/** ok: works; warn: works worse than it could, or will fail later; fail: a required item is broken; info: optional, not set up. */
export type Verdict = 'ok' | 'warn' | 'fail' | 'info';

/** One line of `pnpm diagnose`. */
export interface Check {
  /** Stable key for scripts, e.g. 'node', 'backend:webgpu', 'weights:vgg16'. */
  id: string;
  /** Short label printed in the report's second column. */
  title: string;
  verdict: Verdict;
  /** What was found, one sentence. */
  summary: string;
  /** What to do about it (absent when there is nothing to do). */
  fix?: string;
  /** A failing required check makes the command exit 1. */
  required?: boolean;
  /** Structured facts for --json (versions, paths, adapter fields). */
  details?: Record<string, unknown>;
}

export interface DiagnoseReport {
  /** False when a required check failed; the exit code is 1 then. */
  ok: boolean;
  /** The backend `--backend auto` starts here, and on what. */
  backend: { name: string; device: string } | null;
  checks: Check[];
}
