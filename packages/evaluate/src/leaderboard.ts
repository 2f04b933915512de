// The leaderboard: our runs ranked by one stated rule, beside the original study's published
// test accuracies. The same rule picks the run that `--promote` puts into service.
import { canonicalArchName, canonicalTrainMode } from '@parts/models';
import { wilsonInterval } from './metrics';
import type { Interval } from './metrics';
import type { Evaluation } from './evaluation-record';

export const RANKING_RULE = 'highest balanced accuracy; ties broken by lower log loss, then by smaller model size';

export interface RankKey {
  balancedAccuracy: number;
  logLoss: number;
  modelBytes: number;
}

/** Negative when a ranks before (is better than) b. */
export function compareRuns(a: RankKey, b: RankKey): number {
  const eps = 1e-12; // equal up to float noise counts as a tie
  if (Math.abs(a.balancedAccuracy - b.balancedAccuracy) > eps) return b.balancedAccuracy - a.balancedAccuracy;
  const la = Number.isFinite(a.logLoss) ? a.logLoss : Infinity;
  const lb = Number.isFinite(b.logLoss) ? b.logLoss : Infinity;
  if (la !== lb && !(Math.abs(la - lb) <= eps)) return la < lb ? -1 : 1;
  return a.modelBytes - b.modelBytes;
}

/** The original study's published test accuracies, on its 21 test photos. */
const STUDY_TEST_PHOTOS = 21;
export const PUBLISHED_STUDY = {
  n: STUDY_TEST_PHOTOS,
  note: `The original study's published test accuracies on its own ${STUDY_TEST_PHOTOS} test photos (big and small machine part).`,
  results: [
    { arch: 'tinyvgg', mode: 'scratch', accuracy: 0.62 },
    { arch: 'vgg16', mode: 'extract', accuracy: 0.43 },
    { arch: 'vgg16', mode: 'finetune', accuracy: 0.71 },
    { arch: 'resnet50', mode: 'extract', accuracy: 0.62 },
    { arch: 'resnet50', mode: 'finetune', accuracy: 0.62 },
    { arch: 'inception', mode: 'extract', accuracy: 0.62 },
    { arch: 'inception', mode: 'finetune', accuracy: 0.71 },
    { arch: 'efficientnet', mode: 'extract', accuracy: 0.62 },
    { arch: 'efficientnet', mode: 'finetune', accuracy: 0.62 },
  ],
} as const;

/** The registry's name for an architecture name or alias; unknown names are lower-cased. */
export function canonicalArch(arch: string): string {
  return canonicalArchName(arch) ?? arch.toLowerCase();
}

export interface PublishedResult {
  accuracy: number;
  n: number;
  /** Correct images implied by the rounded accuracy (e.g. 0.62 of 21 → 13). */
  correct: number;
  interval: Interval;
}

export function publishedResult(arch: string, mode: string): PublishedResult | null {
  const a = canonicalArch(arch);
  const m = canonicalTrainMode(mode) ?? mode;
  const r = PUBLISHED_STUDY.results.find((x) => x.arch === a && x.mode === m);
  if (!r) return null;
  const correct = Math.round(r.accuracy * PUBLISHED_STUDY.n);
  return { accuracy: r.accuracy, n: PUBLISHED_STUDY.n, correct, interval: wilsonInterval(correct, PUBLISHED_STUDY.n) };
}

export type EntryStatus = 'ok' | 'bad' | 'skipped';

/** One row of the report: an evaluated run, a broken run folder, or a run the study skipped. */
export interface ReportRun {
  runId: string;
  runDir?: string;
  arch?: string;
  mode?: string;
  status: EntryStatus;
  /** Why the run is bad or skipped. */
  reason?: string;
  evaluation?: Evaluation;
  /** history.json epochs, for learning curves. */
  history?: { epochs: import('@parts/train').HistoryEpoch[]; bestEpoch?: number };
}

export interface LeaderboardEntry extends Pick<ReportRun, 'runId' | 'runDir' | 'arch' | 'mode' | 'status' | 'reason'> {
  /** 1-based rank among evaluated runs; null for bad and skipped ones. */
  rank: number | null;
  n?: number;
  correct?: number;
  accuracy?: number;
  accuracyInterval?: Interval;
  balancedAccuracy?: number;
  macroF1?: number;
  rocAuc?: number | null;
  logLoss?: number;
  modelBytes?: number;
  published: PublishedResult | null;
}

export interface Leaderboard {
  format: 'parts-leaderboard/1';
  createdAt: string;
  rule: string;
  split: string | null;
  /** Dataset roots our runs were evaluated on, with the number of images. */
  testSets: { root: string; n: number }[];
  publishedStudy: { n: number; note: string };
  sameTestSetAsStudy: { same: boolean; explanation: string };
  best: string | null;
  entries: LeaderboardEntry[];
}

export function buildLeaderboard(runs: ReportRun[], createdAt = new Date()): Leaderboard {
  const ok = runs.filter((r) => r.status === 'ok' && r.evaluation);
  const ranked = [...ok].sort((a, b) => compareRuns(a.evaluation!, b.evaluation!));
  const entries: LeaderboardEntry[] = ranked.map((r, i) => {
    const e = r.evaluation!;
    return {
      rank: i + 1,
      runId: r.runId,
      runDir: r.runDir,
      arch: e.arch,
      mode: e.mode,
      status: 'ok',
      n: e.n,
      correct: e.correct,
      accuracy: e.accuracy,
      accuracyInterval: e.accuracyInterval,
      balancedAccuracy: e.balancedAccuracy,
      macroF1: e.macro.f1,
      rocAuc: e.rocAuc,
      logLoss: e.logLoss,
      modelBytes: e.modelBytes,
      published: publishedResult(e.arch, e.mode),
    };
  });
  for (const r of runs.filter((x) => !(x.status === 'ok' && x.evaluation))) {
    entries.push({
      rank: null,
      runId: r.runId,
      runDir: r.runDir,
      arch: r.arch,
      mode: r.mode,
      status: r.status === 'ok' ? 'bad' : r.status,
      reason: r.reason ?? (r.status === 'ok' ? 'no evaluation' : undefined),
      published: r.arch && r.mode ? publishedResult(r.arch, r.mode) : null,
    });
  }
  const sets = new Map<string, number>();
  for (const r of ok) sets.set(r.evaluation!.data.root, r.evaluation!.n);
  const testSets = [...sets].map(([root, n]) => ({ root, n }));
  return {
    format: 'parts-leaderboard/1',
    createdAt: createdAt.toISOString(),
    rule: RANKING_RULE,
    split: ok[0]?.evaluation?.split ?? null,
    testSets,
    publishedStudy: { n: PUBLISHED_STUDY.n, note: PUBLISHED_STUDY.note },
    sameTestSetAsStudy: sameTestSet(testSets),
    best: entries[0]?.status === 'ok' ? entries[0].runId : null,
    entries,
  };
}

/**
 * Whether our numbers are on the study's test set. They never are: the study's 21 test photos were
 * not published with it, so every dataset here (the generated demo set, ../shared/datasets/parts)
 * holds different photos, and usually a different number of them.
 */
function sameTestSet(testSets: { root: string; n: number }[]): { same: boolean; explanation: string } {
  const ours = testSets.length ? testSets.map((t) => `${t.n} images in ${t.root}`).join('; ') : 'no evaluated run';
  return {
    same: false,
    explanation:
      `No. The study's accuracies are on its own ${PUBLISHED_STUDY.n} test photos, which are not available here; ` +
      `our test set is different photos (${ours}). Compare the two columns loosely: one image moves the study's accuracy by ` +
      `${(100 / PUBLISHED_STUDY.n).toFixed(1)} points${testSets.length ? ` and ours by ${testSets.map((t) => (100 / t.n).toFixed(1)).join('/')}` : ''}, ` +
      `and the Wilson intervals of both columns are wide.`,
  };
}
