// The console display of training progress. The fit loop drives an EpochProgress through its
// progress callback (callbacks/progress.ts): start per epoch, a tick per batch, a line per epoch.
import cliProgress from 'cli-progress';
import type { EpochRecord } from './run-folder';

export interface EpochProgress {
  start(epoch: number, epochs: number, batches: number): void;
  tick(stats: { loss: number; acc: number }): void;
  end(rec: EpochRecord, improved: boolean): void;
}

const f = (x: number | undefined, d = 4) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));

export function formatEpoch(rec: EpochRecord, epochs: number, improved: boolean): string {
  const val = rec.valLoss !== undefined ? ` val_loss ${f(rec.valLoss)} val_acc ${f(rec.valAcc, 3)}` : '';
  return `epoch ${String(rec.epoch).padStart(String(epochs).length)}/${epochs} loss ${f(rec.loss)} acc ${f(rec.acc, 3)}${val} ${(rec.timeMs / 1000).toFixed(1)}s${improved ? ' *' : ''}`;
}

/** A bar per epoch on a terminal; one summary line per epoch everywhere (CI logs included). */
export function consoleProgress(write: (line: string) => void = (l) => process.stderr.write(l + '\n')): EpochProgress {
  const tty = Boolean(process.stderr.isTTY);
  let bar: cliProgress.SingleBar | null = null;
  let epochs = 0;
  return {
    start(epoch, total, batches) {
      epochs = total;
      if (!tty) return;
      bar = new cliProgress.SingleBar(
        { format: `epoch ${epoch}/${total} [{bar}] {value}/{total} batches | loss {loss} acc {acc} | {duration}s`, stream: process.stderr, hideCursor: true, clearOnComplete: true },
        cliProgress.Presets.shades_classic,
      );
      bar.start(batches, 0, { loss: '-', acc: '-' });
    },
    tick({ loss, acc }) {
      bar?.increment(1, { loss: f(loss), acc: f(acc, 3) });
    },
    end(rec, improved) {
      bar?.stop();
      bar = null;
      write(formatEpoch(rec, epochs, improved));
    },
  };
}

/** Reports one stage's count: `done` of `total` photos (or another unit). */
export type StageProgress = (stage: string, done: number, total: number, unit?: string) => void;

/**
 * Lines for the stages that read every photo before training (the decode check, the group
 * signatures, the data check, decoding at model size): a stage still running after `everyMs` says
 * how far it is, at most once per `everyMs`, and says when it ends; a stage that ends sooner prints
 * nothing, so a small dataset's log is unchanged. Plain lines, so CI logs show them too.
 */
export function stageProgress(write: (line: string) => void, o: { everyMs?: number; now?: () => number } = {}): StageProgress {
  const everyMs = o.everyMs ?? 5000;
  const now = o.now ?? (() => performance.now());
  const stages = new Map<string, { started: number; reported: number }>();
  const seconds = (ms: number) => `${(ms / 1000).toFixed(0)} s`;
  return (stage, done, total, unit = 'photos') => {
    const t = now();
    let s = stages.get(stage);
    if (!s) stages.set(stage, (s = { started: t, reported: t }));
    if (done >= total) {
      if (t - s.started >= everyMs) write(`data: ${stage} ${total}/${total} ${unit} in ${seconds(t - s.started)}`);
      stages.delete(stage);
    } else if (t - s.reported >= everyMs) {
      write(`data: ${stage} ${done}/${total} ${unit} (${seconds(t - s.started)})`);
      s.reported = t;
    }
  };
}
