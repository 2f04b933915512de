// A small runner for one long job at a time (the review page's retrain): it spawns a command and
// keeps the job's state in <dataDir>/jobs/<name>.json (written atomically), so the page shows
// progress live and after a reload, and a restarted server knows a job it lost.
//
// Progress: a line of the job's output `progress <fraction 0..1> [message]`, or a JSON line
// `{"progress": 0.4, "message": "..."}`, sets it; the last lines of output are kept as they come.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { processEnv } from '@parts/cli';

export interface JobState {
  id: string;
  name: string;
  command: string[];
  state: 'running' | 'succeeded' | 'failed';
  pid: number | null;
  startedAt: string;
  endedAt: string | null;
  exitCode: number | null;
  signal: string | null;
  progress: { fraction: number | null; message: string | null };
  /** The last lines of stdout and stderr. */
  output: string[];
  /** Why it failed, when it did. */
  error: string | null;
}

const KEEP_LINES = 40;

export class JobBusyError extends Error {
  constructor(readonly job: JobState) {
    super(`a ${job.name} job is running already (started ${job.startedAt}, pid ${job.pid})`);
  }
}

function alive(pid: number | null): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function parseProgress(line: string): { fraction: number | null; message: string | null } | null {
  const m = /^progress\s+([0-9.]+)(?:\s+(.*))?$/i.exec(line.trim());
  if (m) {
    const f = Number(m[1]);
    return Number.isFinite(f) ? { fraction: Math.min(1, Math.max(0, f)), message: m[2] ?? null } : null;
  }
  if (line.trim().startsWith('{')) {
    try {
      const j = JSON.parse(line) as { progress?: unknown; message?: unknown };
      if (typeof j.progress === 'number') return { fraction: Math.min(1, Math.max(0, j.progress)), message: typeof j.message === 'string' ? j.message : null };
    } catch {
      // not JSON: an ordinary line
    }
  }
  return null;
}

async function writeAtomic(file: string, text: string): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await fsp.writeFile(tmp, text);
  await fsp.rename(tmp, file);
}

export interface JobRunnerOptions {
  dataDir: string;
  name: string;
  /** The command and its arguments. */
  command: string[];
  cwd?: string;
  /** Variables added to the job's environment (kept out of the job file, unlike the command). */
  env?: Record<string, string>;
  /** Shortest time between two writes of the job file while output streams, ms. Default 200. */
  writeEveryMs?: number;
}

export class JobRunner {
  readonly file: string;
  private child: ChildProcess | null = null;
  private state: JobState | null = null;
  private writing: Promise<void> = Promise.resolve();
  private lastWrite = 0;
  private pendingWrite: NodeJS.Timeout | null = null;
  private finished: Promise<JobState> | null = null;

  constructor(private readonly o: JobRunnerOptions) {
    if (o.command.length === 0) throw new RangeError('job command must not be empty');
    this.file = path.join(path.resolve(o.dataDir), 'jobs', `${o.name}.json`);
  }

  /** The latest job (running or ended), or null when none ever ran here. */
  async current(): Promise<JobState | null> {
    if (this.state) return this.state;
    let j: JobState;
    try {
      j = JSON.parse(await fsp.readFile(this.file, 'utf8')) as JobState;
    } catch {
      return null;
    }
    if (j.state === 'running' && !alive(j.pid)) {
      // Started by a server that is gone (stopped or killed while the job ran).
      j = { ...j, state: 'failed', endedAt: new Date().toISOString(), error: 'interrupted: the job ended without reporting (the server stopped while it ran)' };
      await writeAtomic(this.file, JSON.stringify(j, null, 2));
    }
    return j;
  }

  /** Starts the job; throws JobBusyError when one is running (here, or from an earlier server still alive). */
  async start(): Promise<JobState> {
    const cur = await this.current();
    if (cur?.state === 'running') throw new JobBusyError(cur);
    const state: JobState = {
      id: randomUUID(),
      name: this.o.name,
      command: this.o.command,
      state: 'running',
      pid: null,
      startedAt: new Date().toISOString(),
      endedAt: null,
      exitCode: null,
      signal: null,
      progress: { fraction: null, message: null },
      output: [],
      error: null,
    };
    this.state = state;
    const [cmd, ...args] = this.o.command;
    const child = spawn(cmd!, args, { cwd: this.o.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: this.o.env ? { ...processEnv(), ...this.o.env } : undefined });
    this.child = child;
    state.pid = child.pid ?? null;
    const onLine = (line: string) => {
      const p = parseProgress(line);
      if (p) state.progress = p;
      state.output.push(line);
      if (state.output.length > KEEP_LINES) state.output.splice(0, state.output.length - KEEP_LINES);
      this.scheduleWrite();
    };
    for (const stream of [child.stdout!, child.stderr!]) {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const lines = (rest + chunk).split(/\r?\n/);
        rest = lines.pop()!;
        for (const l of lines) onLine(l);
      });
      stream.on('end', () => {
        if (rest) onLine(rest);
        rest = '';
      });
    }
    this.finished = new Promise<JobState>((resolve) => {
      let done = false;
      const end = (code: number | null, signal: string | null, error: string | null) => {
        if (done) return;
        done = true;
        state.state = code === 0 && !error ? 'succeeded' : 'failed';
        state.exitCode = code;
        state.signal = signal;
        state.endedAt = new Date().toISOString();
        state.error = error ?? (code === 0 ? null : signal ? `killed by ${signal}` : `exited with status ${code}`);
        this.child = null;
        this.flush().then(() => resolve(state));
      };
      child.on('error', (e) => end(null, null, `could not start ${cmd}: ${e.message}`));
      child.on('close', (code, signal) => end(code, signal, null));
    });
    await this.flush();
    return state;
  }

  /** Resolves when the job this runner started ends. */
  wait(): Promise<JobState | null> {
    return this.finished ?? Promise.resolve(this.state);
  }

  /** Stops a running job (SIGTERM). */
  stop(): void {
    this.child?.kill('SIGTERM');
  }

  private scheduleWrite(): void {
    if (this.pendingWrite) return;
    const wait = Math.max(0, (this.o.writeEveryMs ?? 200) - (Date.now() - this.lastWrite));
    this.pendingWrite = setTimeout(() => {
      this.pendingWrite = null;
      void this.flush();
    }, wait);
    this.pendingWrite.unref();
  }

  private flush(): Promise<void> {
    if (this.pendingWrite) {
      clearTimeout(this.pendingWrite);
      this.pendingWrite = null;
    }
    const snapshot = JSON.stringify(this.state, null, 2);
    this.lastWrite = Date.now();
    this.writing = this.writing.then(() => writeAtomic(this.file, snapshot)).catch(() => {});
    return this.writing;
  }
}
