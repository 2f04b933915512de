import cliProgress from 'cli-progress';

/** Download progress reporter: `update` per received chunk, `stop` once at the end (success or not). */
export interface ProgressReporter {
  update(received: number, total?: number): void;
  stop(): void;
}

const MB = 1024 * 1024;

/**
 * A cli-progress bar on stderr. cli-progress draws nothing when stderr is not a TTY (CI logs), where the
 * start/end log lines of the downloader are the only output.
 */
export function createProgressBar(label: string): ProgressReporter {
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% | {recv}/{size} MiB | {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(received, total) {
      const payload = { recv: (received / MB).toFixed(1), size: total ? (total / MB).toFixed(1) : '?' };
      if (!started) {
        bar.start(total ?? 0, received, payload);
        started = true;
      } else {
        if (total) bar.setTotal(total);
        bar.update(received, payload);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
