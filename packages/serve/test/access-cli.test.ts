import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import { repoRoot } from '@parts/cli';
import { openLogDatabase } from '../src/log/db';
import { makeModel, tempDir } from './fixtures';

// The access commands as an operator runs them: pnpm keys, pnpm users, and pnpm serve refusing a
// non-loopback address without keys or accounts (each spawned; real SQLite in a temporary folder).
let dir: string;

beforeAll(async () => {
  await initBackend('cpu', () => {});
  dir = await tempDir('access-cli-');
  await makeModel(path.join(dir, 'model'), { runId: 'tiny-access-cli', imgSize: 32 });
});

afterAll(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

async function withDb<T>(dataDir: string, fn: (db: Awaited<ReturnType<typeof openLogDatabase>>['db']) => Promise<T>): Promise<T> {
  const { db } = await openLogDatabase(dataDir);
  try {
    return await fn(db);
  } finally {
    await db.destroy();
  }
}

function run(script: string, args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: repoRoot(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

describe('pnpm keys and pnpm users', () => {
  it('keys add prints the key once; list shows only its first characters; revoke marks it', async () => {
    const d = path.join(dir, 'data-cli');
    const add = await run('packages/serve/src/cli/keys.ts', ['add', 'line-3', '--data-dir', d]);
    expect(add.code, add.stderr).toBe(0);
    const key = add.stdout.trim();
    expect(key).toMatch(/^parts_[A-Za-z0-9_-]{43}$/);
    expect(add.stderr).toMatch(/shown now and never again/);
    const list = await run('packages/serve/src/cli/keys.ts', ['list', '--data-dir', d]);
    expect(list.stdout).toMatch(new RegExp(`line-3\\t${key.slice(0, 10)}…`));
    expect(list.stdout).not.toContain(key);
    const revoke = await run('packages/serve/src/cli/keys.ts', ['revoke', 'line-3', '--data-dir', d]);
    expect(revoke.stdout).toMatch(/revoked API key "line-3"/);
    expect((await run('packages/serve/src/cli/keys.ts', ['list', '--data-dir', d])).stdout).toMatch(/line-3.*revoked/);
  });

  it('users add reads the password from stdin with --password-stdin and refuses without a terminal otherwise', async () => {
    const d = path.join(dir, 'data-cli-users');
    const noTty = await run('packages/serve/src/cli/users.ts', ['add', 'dora', '--data-dir', d], 'a password here\n');
    expect(noTty.code).toBe(1);
    expect(noTty.stderr).toMatch(/--password-stdin/);
    const add = await run('packages/serve/src/cli/users.ts', ['add', 'dora', '--password-stdin', '--data-dir', d], 'a password here\n');
    expect(add.code, add.stderr).toBe(0);
    const row = await withDb(d, (db) => db.selectFrom('reviewers').selectAll().executeTakeFirstOrThrow());
    expect(row.name).toBe('dora');
    expect(row.password_hash).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(row.password_hash).not.toContain('a password here');
    const short = await run('packages/serve/src/cli/users.ts', ['passwd', 'dora', '--password-stdin', '--data-dir', d], 'short\n');
    expect([short.code, /at least 10 characters/.test(short.stderr)]).toEqual([1, true]);
    expect((await run('packages/serve/src/cli/users.ts', ['list', '--data-dir', d])).stdout).toMatch(/^dora\t/m);
  });

  it('pnpm serve --host 0.0.0.0 without keys exits 1 naming --insecure-no-auth', async () => {
    const r = await run('packages/serve/src/cli/serve.ts', ['--model', path.join(dir, 'model'), '--host', '0.0.0.0', '--port', '0', '--data-dir', path.join(dir, 'data-cli-serve'), '--workers', '0', '--backend', 'cpu']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/serve: refusing to listen on 0\.0\.0\.0.*--insecure-no-auth/);
  });
});
