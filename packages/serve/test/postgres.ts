// Tests against a real PostgreSQL: one throw-away server per test file (scripts/postgres.sh, on
// loopback on a free port, as the postgres user when the tests run as root), a fresh database per
// test. Without PostgreSQL's binaries the tests that need it are skipped, and the reason printed.
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fsp, readdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll } from 'vitest';

const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../scripts/postgres.sh');

/** Where pg_ctl is, or null. */
function postgresBin(): string | null {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'pg_ctl'))).sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return path.join(root, versions[0], 'bin');
  }
  try {
    return path.dirname(execFileSync('sh', ['-c', 'command -v pg_ctl'], { encoding: 'utf8' }).trim()) || null;
  } catch {
    return null;
  }
}

function missingReason(): string | null {
  if (!postgresBin()) return 'PostgreSQL binaries not found (pg_ctl in /usr/lib/postgresql/<version>/bin or on PATH; scripts/setup.sh installs Debian\'s postgresql)';
  if (process.getuid?.() === 0) {
    try {
      execFileSync('id', ['postgres'], { stdio: 'ignore' });
    } catch {
      return 'running as root and there is no postgres user to run PostgreSQL as (it refuses root)';
    }
  }
  return null;
}

/** Why the PostgreSQL tests are skipped here, or null when they run. */
export const POSTGRES_MISSING = missingReason();
if (POSTGRES_MISSING) console.warn(`PostgreSQL tests skipped: ${POSTGRES_MISSING}`);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface TestPostgres {
  /** The URL of the server's `parts` database. */
  url: string;
  /** Creates an empty database and returns its URL. */
  newDatabase(): Promise<string>;
}

let started: Promise<TestPostgres> | null = null;
let stopDir: string | null = null;

function stop(): void {
  if (!stopDir) return;
  const dir = stopDir;
  stopDir = null;
  try {
    execFileSync('bash', [SCRIPT, 'stop', dir], { stdio: 'ignore' });
  } catch {
    // already gone
  }
  execFileSync('rm', ['-rf', dir]);
}

process.once('exit', stop);
afterAll(stop);

/** The file's PostgreSQL server, started on first use. */
export function testPostgres(): Promise<TestPostgres> {
  if (POSTGRES_MISSING) throw new Error(`PostgreSQL is not available: ${POSTGRES_MISSING}`);
  started ??= (async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'parts-pg-'));
    await fsp.chmod(dir, 0o755);
    stopDir = dir;
    const port = await freePort();
    const url = execFileSync('bash', [SCRIPT, 'start', dir, String(port)], { encoding: 'utf8' }).trim();
    let n = 0;
    return {
      url,
      async newDatabase() {
        const name = `t${process.pid}_${++n}_${Math.random().toString(36).slice(2, 8)}`;
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        try {
          await c.query(`CREATE DATABASE ${name}`);
        } finally {
          await c.end();
        }
        const u = new URL(url);
        u.pathname = `/${name}`;
        return u.toString();
      },
    };
  })();
  return started;
}

export type Dialect = 'sqlite' | 'postgres';

/** The dialects a parameterised suite runs on: both, PostgreSQL left out (with the reason printed) when missing. */
export const DIALECTS: Dialect[] = POSTGRES_MISSING ? ['sqlite'] : ['sqlite', 'postgres'];

/** A fresh database URL for `dialect`: a new PostgreSQL database, or undefined (SQLite in the data folder). */
export async function databaseFor(dialect: Dialect): Promise<string | undefined> {
  return dialect === 'postgres' ? (await testPostgres()).newDatabase() : undefined;
}
