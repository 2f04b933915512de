// `pnpm study`: the original study's whole grid in one command — train every architecture and mode,
// evaluate, write the report, promote the best. One failing or skipped run never stops the others.
import path from 'node:path';
import type { BackendName } from '@parts/backend';
import { listArchs, type TrainMode } from '@parts/models';
import type { TrainOptions, TrainResult } from '@parts/train';
import { evaluateRuns } from './pipeline';
import type { ReportRun } from './leaderboard';
import { writeReport } from './report';
import type { ReportResult } from './report';
import { promoteBest } from './promote';
import type { PromoteResult } from './promote';

export interface GridCell {
  arch: string;
  mode: TrainMode;
}

/**
 * Every registered architecture in each of its modes (ArchSpec.modes), in registration order: Tiny
 * VGG from scratch; each pretrained base with feature extraction and with fine-tuning; PartsNet from
 * scratch with its recipe (ArchSpec.recipe: 128 px contain, size-preserving augmentation, cosine
 * LR, 40 epochs), which is also what `pnpm train` uses without --arch.
 */
export function studyGrid(): GridCell[] {
  return listArchs().flatMap((a) => a.modes.map((mode) => ({ arch: a.name, mode })));
}

/** The grid of the built-in architectures (studyGrid() at start-up). */
export const STUDY_GRID: GridCell[] = studyGrid();

export interface StudyOptions {
  data: string;
  /** Base weights for the pretrained architectures (train's --weights). */
  weights?: 'imagenet' | 'none' | string;
  epochs?: number;
  imgSize?: number;
  batchSize?: number;
  seed?: number;
  backend?: BackendName;
  /** Parent folder of the run folders. */
  out: string;
  /** Parent folder of the report folder. */
  reportsOut: string;
  promote: boolean;
  /** Promotion target (default packages/serve/model). */
  promoteTarget?: string;
  force?: boolean;
  /** Subset or reordering of STUDY_GRID. */
  grid?: GridCell[];
  /** Passed through to train() for each run (e.g. patience, augment). */
  trainOverrides?: Partial<TrainOptions>;
  log?: (msg: string) => void;
  /** Injected for tests; default train() from @parts/train. */
  train?: (o: TrainOptions) => Promise<TrainResult>;
}

export interface StudyResult {
  runs: ReportRun[];
  report: ReportResult;
  promotion?: PromoteResult;
  totalMs: number;
}

/** Errors meaning "the pretrained weights cannot be had here": the run is skipped, not failed. */
export function isWeightsUnavailable(e: unknown): boolean {
  const err = e as { name?: string; kind?: string };
  // No connection, an HTTP error or a cut-off transfer: the weights cannot be had from here. A file
  // that arrived with the wrong md5 (or could not be written) is a failure, not a skip.
  return err?.name === 'WeightsUnavailableError' || (err?.name === 'WeightsDownloadError' && (err.kind === 'http' || err.kind === 'truncated'));
}

export async function runStudy(opts: StudyOptions): Promise<StudyResult> {
  const log = opts.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const trainFn = opts.train ?? (await import('@parts/train')).train;
  const grid = opts.grid ?? STUDY_GRID;
  const t0 = Date.now();
  const trained: string[] = [];
  const notTrained: ReportRun[] = [];
  const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

  let firstWeightsSkip: string | null = null;
  for (const [i, cell] of grid.entries()) {
    const tag = `[${i + 1}/${grid.length}] ${cell.arch} ${cell.mode}`;
    const started = Date.now();
    log(`${tag}: training…`);
    try {
      const r = await trainFn({
        ...opts.trainOverrides,
        arch: cell.arch,
        mode: cell.mode,
        data: opts.data,
        epochs: opts.epochs,
        imgSize: opts.imgSize,
        batchSize: opts.batchSize,
        seed: opts.seed,
        backend: opts.backend,
        weights: cell.mode === 'scratch' ? 'none' : opts.weights,
        out: opts.out,
        quiet: opts.trainOverrides?.quiet ?? true,
      });
      trained.push(r.runDir);
      const acc = r.metrics.test ? `, test accuracy ${(r.metrics.test.accuracy * 100).toFixed(1)}% (${r.metrics.test.correct}/${r.metrics.test.n})` : '';
      log(`${tag}: done in ${secs(Date.now() - started)}${acc} → ${r.runDir}`);
    } catch (e) {
      const id = `${cell.arch}-${cell.mode}`;
      const message = (e as Error).message ?? String(e);
      if (isWeightsUnavailable(e)) {
        // The what-to-do part of the message is the same for every base: said in full once.
        const w = e as { name?: string; file?: string; reason?: string };
        const short = firstWeightsSkip !== null && w.name === 'WeightsUnavailableError' && typeof w.file === 'string';
        log(`${tag}: skipped (${secs(Date.now() - started)}): ${short ? `ImageNet weights '${w.file}' unavailable (${w.reason}); what to do: see ${firstWeightsSkip} above` : message}`);
        firstWeightsSkip ??= tag;
        notTrained.push({ runId: id, arch: cell.arch, mode: cell.mode, status: 'skipped', reason: `ImageNet weights unavailable: ${message}` });
      } else {
        log(`${tag}: FAILED (${secs(Date.now() - started)}): ${message}`);
        notTrained.push({ runId: id, arch: cell.arch, mode: cell.mode, status: 'bad', reason: `training failed: ${message}` });
      }
    }
  }

  log(`evaluating ${trained.length} run(s)…`);
  const evaluated = await evaluateRuns({ runDirs: trained, split: 'test', log: (m) => log(`  ${m}`) });
  const runs = [...evaluated, ...notTrained];
  const totalSoFar = Date.now() - t0;
  const report = await writeReport(runs, {
    outRoot: opts.reportsOut,
    title: `Study — ${path.basename(path.resolve(opts.data))}`,
    notes: [
      `Dataset: ${path.resolve(opts.data)}`,
      `Grid: ${grid.map((c) => `${c.arch} ${c.mode}`).join(', ')}`,
      `Weights for pretrained bases: ${opts.weights ?? 'imagenet'}; epochs: ${opts.epochs ?? 'default'}; input size: ${opts.imgSize ?? 'default'}`,
      `Trained ${trained.length}, skipped ${notTrained.filter((r) => r.status === 'skipped').length}, failed ${notTrained.filter((r) => r.status === 'bad').length}; training + evaluation took ${secs(totalSoFar)}`,
    ],
  });
  for (const w of report.warnings) log(`warning: ${w}`);
  log(`report: ${path.join(report.dir, 'index.html')}`);

  let promotion: PromoteResult | undefined;
  if (opts.promote) {
    promotion = await promoteBest(runs, { target: opts.promoteTarget, force: opts.force });
    log(promotion.message);
  }
  const totalMs = Date.now() - t0;
  log(`study finished in ${secs(totalMs)}`);
  return { runs, report, promotion, totalMs };
}
