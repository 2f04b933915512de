// Rate limits of the access layer: token buckets per API key (and per client address for the open
// upload page), and the login throttle that answers 429 after repeated wrong passwords per account
// and per client address. Both live in this process's memory: each replica keeps its own counts.
import { HttpError } from '../errors';

/** Most entries a map keeps; past it the oldest go (an attacker cycling names or addresses cannot grow memory). */
const MAX_ENTRIES = 10_000;

function evictOldest<K, V>(m: Map<K, V>): void {
  while (m.size > MAX_ENTRIES) m.delete(m.keys().next().value as K);
}

/** One token bucket per name: `perMinute` sustained, `burst` at once. */
export class BucketLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    readonly perMinute: number,
    readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(perMinute > 0) || !(burst >= 1)) throw new RangeError(`a rate limit needs perMinute > 0 and burst >= 1, got ${perMinute}/${burst}`);
  }

  /** Takes one token of `name`'s bucket; throws 429 with Retry-After (whole seconds until one is back) when empty. */
  take(name: string, what: string): void {
    const t = this.now();
    const perMs = this.perMinute / 60_000;
    let b = this.buckets.get(name);
    if (b) this.buckets.delete(name);
    b ??= { tokens: this.burst, at: t };
    b.tokens = Math.min(this.burst, b.tokens + (t - b.at) * perMs);
    b.at = t;
    this.buckets.set(name, b);
    evictOldest(this.buckets);
    if (b.tokens < 1) {
      const waitS = Math.max(1, Math.ceil((1 - b.tokens) / perMs / 1000));
      throw new HttpError(429, 'rate-limited', `${what}: more than ${this.perMinute} requests per minute (bursts of ${this.burst}); retry in ${waitS} s`, { 'Retry-After': String(waitS) });
    }
    b.tokens -= 1;
  }
}

export interface LoginThrottleOptions {
  /** Wrong passwords in a row an account may have before each further try waits. Default 5. */
  accountTries?: number;
  /** Wrong passwords a client address may have (any accounts) before each further try waits. Default 20. */
  addressTries?: number;
  /** The first wait; it doubles with each further wrong password. Default 1 s. */
  baseDelayMs?: number;
  /** The longest wait. Default 15 min. */
  maxDelayMs?: number;
}

/** Names longer than an account name can be count as their first 64 characters (bounded memory). */
const accountKey = (name: string) => name.slice(0, 64).toLowerCase();

interface Failures {
  count: number;
  until: number;
}

/**
 * After `accountTries` wrong passwords for one account, or `addressTries` from one client address,
 * every further try within the wait is refused (429, Retry-After) before the password is checked,
 * and each further wrong password doubles the wait. A right password clears both counts.
 */
export class LoginThrottle {
  private readonly accounts = new Map<string, Failures>();
  private readonly addresses = new Map<string, Failures>();
  private readonly o: Required<LoginThrottleOptions>;

  constructor(o: LoginThrottleOptions = {}, private readonly now: () => number = () => Date.now()) {
    this.o = { accountTries: 5, addressTries: 20, baseDelayMs: 1000, maxDelayMs: 15 * 60_000, ...o };
  }

  /** Seconds to wait before `account` may try again from `address`; 0 when it may try now. */
  waitS(account: string, address: string): number {
    const t = this.now();
    const until = Math.max(this.accounts.get(accountKey(account))?.until ?? 0, this.addresses.get(address)?.until ?? 0);
    return until > t ? Math.ceil((until - t) / 1000) : 0;
  }

  failed(account: string, address: string): void {
    this.bump(this.accounts, accountKey(account), this.o.accountTries);
    this.bump(this.addresses, address, this.o.addressTries);
  }

  succeeded(account: string, address: string): void {
    this.accounts.delete(accountKey(account));
    this.addresses.delete(address);
  }

  private bump(m: Map<string, Failures>, k: string, free: number): void {
    const f = m.get(k) ?? { count: 0, until: 0 };
    m.delete(k);
    f.count += 1;
    if (f.count >= free) f.until = this.now() + Math.min(this.o.maxDelayMs, this.o.baseDelayMs * 2 ** Math.min(30, f.count - free));
    m.set(k, f);
    evictOldest(m);
  }
}
