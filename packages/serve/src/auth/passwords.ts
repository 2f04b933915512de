// Reviewer passwords: scrypt (Node's crypto, memory-hard, so each guess costs an attacker who stole
// the database 16 MiB and tens of ms) with a random 16-byte salt per password, compared with
// timingSafeEqual. The parameters are stored with each hash, so raising them later leaves old hashes
// readable.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const N = 1 << 14;
const R = 8;
const P = 1;
const KEY_LEN = 32;
export const MIN_PASSWORD_LENGTH = 10;
export const MAX_PASSWORD_BYTES = 1024;

function scryptAsync(password: string, salt: Buffer, len: number, o: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, len, o, (e, key) => (e ? reject(e) : resolve(key))));
}

/** Why a new password is refused, or null when it is acceptable. */
export function passwordProblem(password: string): string | null {
  if (password.length < MIN_PASSWORD_LENGTH) return `the password must have at least ${MIN_PASSWORD_LENGTH} characters`;
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) return `the password must be at most ${MAX_PASSWORD_BYTES} bytes`;
  return null;
}

/** `scrypt$N$r$p$<salt>$<hash>` (base64). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, KEY_LEN, { N, r: R, p: P, maxmem: 64 * 1024 * 1024 });
  return ['scrypt', N, R, P, salt.toString('base64'), hash.toString('base64')].join('$');
}

/** Whether `password` matches a stored hash; false for a malformed one. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const o = { N: Number(n), r: Number(r), p: Number(p), maxmem: 256 * 1024 * 1024 };
  if (![o.N, o.r, o.p].every((v) => Number.isInteger(v) && v > 0) || expected.length < 16 || Buffer.byteLength(password) > MAX_PASSWORD_BYTES) return false;
  const got = await scryptAsync(password, Buffer.from(salt, 'base64'), expected.length, o);
  return timingSafeEqual(got, expected);
}

/** A hash no password matches, checked for unknown names so that they take as long as known ones. */
let dummy: Promise<string> | null = null;
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(16).toString('hex'));
  return dummy;
}
