// Child processes of a fleet (serve replicas, nginx, Prometheus), each the leader of its own process
// group, so that stopping one stops everything it started (nginx's workers, tsx's node) and a killed
// test leaves nothing behind: every group still running when this process exits gets SIGKILL.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, promises as fsp } from 'node:fs';
import net from 'node:net';

export interface GroupProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves when the group leader exits (never rejects). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Whether the group leader has exited. */
  readonly done: boolean;
  /** The last 64 KiB of its stdout and stderr together. */
  output(): string;
  /** Sends `signal` to the whole process group. */
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM to the group, SIGKILL after `graceMs` if the leader is still there, then SIGKILL to any straggler. */
  stop(graceMs?: number): Promise<void>;
}

const OUTPUT_KEEP = 64 * 1024;
const running = new Set<GroupProcess>();
let exitHookSet = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

/** Starts `command` as the leader of a new process group (stdin closed, stdout and stderr kept). */
export function spawnGroup(name: string, command: string, args: string[], o: { cwd?: string } = {}): GroupProcess {
  if (!exitHookSet) {
    exitHookSet = true;
    process.on('exit', () => {
      for (const p of running) killGroup(p.pid, 'SIGKILL');
    });
  }
  const child = spawn(command, args, { cwd: o.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (c: Buffer) => {
    out += c.toString();
    if (out.length > OUTPUT_KEEP * 2) out = out.slice(-OUTPUT_KEEP);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (e) => {
      out += `\n${name}: ${e.message}\n`;
      done = true;
      running.delete(p);
      resolve({ code: null, signal: null });
    });
    child.once('exit', (code, signal) => {
      done = true;
      running.delete(p);
      resolve({ code, signal });
    });
  });
  const p: GroupProcess = {
    name,
    child,
    pid: child.pid ?? -1,
    exited,
    get done() {
      return done;
    },
    output: () => out.slice(-OUTPUT_KEEP),
    signal(signal) {
      if (p.pid > 0) killGroup(p.pid, signal);
    },
    async stop(graceMs = 15_000) {
      if (p.pid <= 0) return;
      if (!done) {
        killGroup(p.pid, 'SIGTERM');
        const timer = setTimeout(() => killGroup(p.pid, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      killGroup(p.pid, 'SIGKILL'); // anything of the group the leader left behind
    },
  };
  if (p.pid > 0) running.add(p);
  return p;
}

/** A TCP port free on `host` now (the kernel's pick; another process may take it before it is used). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Whether something accepts TCP connections on host:port. */
export function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/**
 * Polls `ready` every 100 ms until it is true. Fails with the process's output when it exits first,
 * or after `timeoutMs` (a hang, not a race: give it minutes on a loaded machine).
 */
export async function waitUntil(what: string, ready: () => Promise<boolean>, o: { proc?: GroupProcess; timeoutMs?: number } = {}): Promise<void> {
  const deadline = Date.now() + (o.timeoutMs ?? 180_000);
  for (;;) {
    if (o.proc?.done) throw new Error(`${o.proc.name} exited before ${what}:\n${o.proc.output().slice(-4000)}`);
    if (await ready().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${o.proc ? `; ${o.proc.name} said:\n${o.proc.output().slice(-4000)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The path of an executable: found on PATH (by the shell), else the first of `fallbacks` that exists (Debian puts nginx in /usr/sbin). */
export function findExecutable(name: string, fallbacks: string[] = []): string | null {
  const found = spawnSync('sh', ['-c', 'command -v "$0"', name], { encoding: 'utf8' });
  const onPath = found.status === 0 ? found.stdout.trim() : '';
  for (const f of [onPath, ...fallbacks]) {
    if (!f) continue;
    try {
      accessSync(f, constants.X_OK);
      return f;
    } catch {
      // next
    }
  }
  return null;
}

/** Clock ticks per second of /proc/<pid>/stat's CPU times (USER_HZ: 100 on Linux's usual builds). */
const USER_HZ = 100;

/**
 * CPU seconds (user + system) used so far by the processes of process group `pgid` that are still
 * running, all their threads included; read from /proc (Linux only).
 */
export async function groupCpuSeconds(pgid: number): Promise<number> {
  let ticks = 0;
  for (const name of await fsp.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await fsp.readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // The command name (field 2) may hold spaces and parentheses: the fields after it start past the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state): pgrp is field 5, utime 14, stime 15.
    if (Number(rest[2]) !== pgid) continue;
    ticks += Number(rest[11]) + Number(rest[12]);
  }
  return ticks / USER_HZ;
}
