// What `pnpm keys` and `pnpm users` do besides the table writers: find and open the server's
// database, read a password without it ever being an argument, and print the lists.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Kysely } from 'kysely';
import { openLogDatabase } from '../log/db';
import { AccessError, type ApiKeyInfo } from './api-keys';
import type { ReviewerInfo } from './reviewers';
import type { LogDatabase } from '../log/schema';

/**
 * The data folder `pnpm serve` uses for a model folder by default: var/ beside it (for a run folder,
 * beside its model/). Found without loading the model packages, so these commands start quickly.
 */
export async function defaultDataDir(modelDir: string): Promise<string> {
  const dir = path.resolve(modelDir);
  const model = !existsSync(path.join(dir, 'classifier.json')) && existsSync(path.join(dir, 'model', 'classifier.json')) ? path.join(dir, 'model') : dir;
  return path.join(path.dirname(model), 'var');
}

/** Opens (creating and migrating when needed) the database of a data folder; destroy() it when done. */
/**
 * The database the server reads its keys and accounts from: the data folder's SQLite file, or, with
 * `url` (serve --db), the shared PostgreSQL database. `file` names it (a URL without its password).
 */
export async function openAccessDatabase(dataDir: string, url?: string): Promise<{ db: Kysely<LogDatabase>; file: string }> {
  const { db, file } = await openLogDatabase(dataDir, { url });
  return { db, file };
}

export function formatKeys(keys: readonly ApiKeyInfo[]): string {
  if (!keys.length) return 'no API keys (pnpm keys add <name> makes one)\n';
  const rows = keys.map((k) => [String(k.id), k.name, `${k.prefix}…`, k.createdAt, k.revokedAt ? `revoked ${k.revokedAt}` : 'active']);
  return ['id\tname\tkey starts\tcreated\tstate', ...rows.map((r) => r.join('\t'))].join('\n') + '\n';
}

export function formatReviewers(list: readonly ReviewerInfo[]): string {
  if (!list.length) return 'no reviewer accounts (pnpm users add <name> makes one)\n';
  return ['name\tcreated\tpassword changed', ...list.map((r) => [r.name, r.createdAt, r.passwordChangedAt].join('\t'))].join('\n') + '\n';
}

type In = NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (on: boolean) => unknown };

/** The first line of a stream (the password piped to --password-stdin), without its line end. */
export async function readFirstLine(input: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of input as AsyncIterable<Buffer | string>) {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(c);
    chunks.push(b);
    size += b.length;
    if (b.includes(10) || size > 4096) break;
  }
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0]!;
}

/** Asks on the terminal with echo off (raw mode: the typed characters are not shown). */
function askHidden(input: In, output: NodeJS.WritableStream, prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    output.write(prompt);
    input.setRawMode!(true);
    input.resume();
    let buf = '';
    const done = () => {
      input.off('data', onData);
      input.setRawMode!(false);
      input.pause();
      output.write('\n');
    };
    const onData = (d: Buffer | string) => {
      for (const ch of d.toString()) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return (done(), resolve(buf));
        if (ch === '\u0003') return (done(), reject(new Error('cancelled')));
        if (ch === '\u007f' || ch === '\b') buf = buf.slice(0, -1);
        else buf += ch;
      }
    };
    input.on('data', onData);
  });
}

/**
 * A new password: the first line of standard input with `fromStdin`, else asked twice on the
 * terminal. Never from an argument (arguments show in `ps` and in the shell's history).
 */
export async function readNewPassword(o: { fromStdin: boolean; input?: In; output?: NodeJS.WritableStream }): Promise<string> {
  const input = o.input ?? (process.stdin as In);
  const output = o.output ?? process.stderr;
  if (o.fromStdin) return readFirstLine(input);
  if (!input.isTTY || !input.setRawMode) {
    throw new AccessError('no terminal to ask for the password on: pipe it in with --password-stdin (never as an argument)', 'no-terminal');
  }
  const first = await askHidden(input, output, 'Password: ');
  const again = await askHidden(input, output, 'Again: ');
  if (first !== again) throw new AccessError('the two passwords differ: nothing was changed', 'bad-password');
  return first;
}
