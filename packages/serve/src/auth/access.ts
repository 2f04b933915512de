// The access gate every request passes before its handler (routes.ts), and the start-up rule on the
// listening address. What is open when:
//   - /healthz, /readyz: always (load balancers' health checks); /login, /logout check themselves.
//   - /metrics: an API key, the --metrics-token as a Bearer token, or a request from this machine.
//   - /api/* (predict, model, stats, review API): once any API key exists, a key (also on loopback)
//     or a signed-in reviewer; before that, anything that reaches the server on loopback (today's
//     rule), or anyone with --insecure-no-auth. --open-page also lets anyone predict (POST
//     /api/predict, GET /api/model) within a per-address rate.
//   - / (the upload page): --open-page, or no keys and no accounts (on loopback, or with
//     --insecure-no-auth); else a signed-in reviewer (redirect to /login) or a key.
//   - /review and /api/review/*: once reviewer accounts exist, a signed-in reviewer (or a key for the
//     API); before that the review guard's loopback rule (log/guard.ts).
// A presented key is always checked: unknown 401, revoked 403, over its rate 429 with Retry-After.
// A signed-in reviewer's state-changing requests must carry the session's CSRF token.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Kysely } from 'kysely';
import { HttpError } from '../errors';
import { isLoopback } from '../log/guard';
import { openLogDatabase } from '../log/db';
import { anyApiKeys, findApiKey } from './api-keys';
import { clientOf, parseTrustedProxies, type Client } from './client';
import { setPrincipal } from './principal';
import { anyReviewers } from './reviewers';
import { findSession, sameSecret, type Session } from './sessions';
import type { LogDatabase } from '../log/schema';
import { BucketLimiter, LoginThrottle, type LoginThrottleOptions } from './throttle';

export interface AccessOptions {
  /**
   * The folder whose database (log.sqlite) holds the keys, accounts and sessions. Default: the
   * prediction log's data folder; the server opens that database itself when the log is off.
   */
  dataDir?: string;
  /** Requests per minute each API key may make (token bucket). Default 600. */
  keyRatePerMinute?: number;
  /** Requests a key may make at once. Default 60. */
  keyBurst?: number;
  /** Anyone may use the upload page and predict (per-address rate as for a key). Default false. */
  openPage?: boolean;
  /** Allows listening beyond loopback with no keys or accounts (prints why it is dangerous). Default false. */
  insecureNoAuth?: boolean;
  /** A Bearer token that may read /metrics (for a Prometheus elsewhere). At least 16 characters. */
  metricsToken?: string;
  /** Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed: addresses, or 'loopback'. */
  trustProxy?: string | readonly string[];
  /** How long a login lasts. Default 12 h. */
  sessionHours?: number;
  /** Login throttle thresholds (defaults: 5 per account, 20 per address, waits from 1 s doubling to 15 min). */
  loginThrottle?: LoginThrottleOptions;
}

type Rule = 'open' | 'metrics' | 'page' | 'review-page' | 'review-api' | 'api';

function ruleOf(pathname: string): Rule {
  if (pathname === '/healthz' || pathname === '/readyz' || pathname === '/login' || pathname === '/logout') return 'open';
  if (pathname === '/metrics') return 'metrics';
  if (pathname === '/') return 'page';
  if (pathname === '/review') return 'review-page';
  if (pathname.startsWith('/api/review/')) return 'review-api';
  // Anything else (the /api/* routes and any added later) needs what /api/* needs.
  return 'api';
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const BEARER = { 'WWW-Authenticate': 'Bearer realm="parts"' };
export const SESSION_COOKIE = 'parts_session';
export const CSRF_HEADER = 'x-csrf-token';

/** The cookies of a request by name (the first of a repeated name). */
export function cookiesOf(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const k = part.slice(0, i).trim();
    if (k && !out.has(k)) out.set(k, part.slice(i + 1).trim());
  }
  return out;
}

/** The key of `Authorization: Bearer <key>` or `X-API-Key`; '' for another Authorization scheme; null when none. */
export function presentedKey(req: IncomingMessage): string | null {
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m ? m[1]! : '';
  }
  const k = req.headers['x-api-key'];
  return typeof k === 'string' ? k.trim() : null;
}

/** Whether a listening address is this machine only. */
export function isLoopbackBind(host: string): boolean {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return h === 'localhost' || isLoopback(h);
}

export class AccessControl {
  readonly throttle: LoginThrottle;
  readonly sessionMs: number;
  private readonly limiter: BucketLimiter;
  private readonly trusted: Set<string>;
  private keysSeen = false;

  private constructor(
    readonly db: Kysely<LogDatabase> | null,
    private readonly ownDb: Kysely<unknown> | null,
    private readonly o: AccessOptions,
    private readonly log: (m: string) => void,
    readonly dbProblem: string | null,
  ) {
    this.limiter = new BucketLimiter(o.keyRatePerMinute ?? 600, o.keyBurst ?? 60);
    this.trusted = parseTrustedProxies(o.trustProxy);
    this.throttle = new LoginThrottle(o.loginThrottle);
    const hours = o.sessionHours ?? 12;
    if (!(hours > 0)) throw new RangeError(`sessionHours must be > 0, got ${hours}`);
    this.sessionMs = hours * 3600_000;
    if (o.metricsToken !== undefined && o.metricsToken.length < 16) throw new RangeError('the metrics token must have at least 16 characters');
  }

  /**
   * The access layer over `db` (the prediction log's database), else over the database of
   * `o.dataDir`, opened here. When neither can be opened nothing is configured: loopback only.
   */
  static async open(o: AccessOptions & { db?: Kysely<LogDatabase> | null; log?: (m: string) => void }): Promise<AccessControl> {
    const log = o.log ?? ((m: string) => console.error(m));
    if (o.db) return new AccessControl(o.db, null, o, log, null);
    if (!o.dataDir) return new AccessControl(null, null, o, log, 'no data folder was given for the keys and accounts');
    try {
      const { db } = await openLogDatabase(o.dataDir);
      return new AccessControl(db, db as Kysely<unknown>, o, log, null);
    } catch (e) {
      return new AccessControl(null, null, o, log, `the database of keys and accounts in ${o.dataDir} cannot be opened: ${(e as Error).message}`);
    }
  }

  async close(): Promise<void> {
    await this.ownDb?.destroy();
  }

  get openPage(): boolean {
    return this.o.openPage === true;
  }

  client(req: IncomingMessage): Client {
    return clientOf(req, this.trusted);
  }

  /** Whether keys (ever) and reviewer accounts (now) exist. Keys are never deleted, so once seen they stay. */
  async configured(): Promise<{ keys: boolean; reviewers: boolean }> {
    if (!this.db) return { keys: false, reviewers: false };
    this.keysSeen ||= await anyApiKeys(this.db);
    return { keys: this.keysSeen, reviewers: await anyReviewers(this.db) };
  }

  /**
   * Throws unless listening on `host` is allowed: beyond loopback needs keys or accounts, or
   * --insecure-no-auth (then a warning says why that is dangerous).
   */
  async checkBind(host: string): Promise<void> {
    const { keys, reviewers } = await this.configured();
    // Without keys the flag leaves /api/* (predict, model, stats) open to anyone, reviewers or not.
    if (this.o.insecureNoAuth && !keys) {
      this.log(
        `WARNING (--insecure-no-auth): listening on ${host} with no API keys${reviewers ? '' : ' and no reviewer accounts'}${this.dbProblem ? ` (${this.dbProblem})` : ''}. ` +
          'Anyone who can reach this address can send photos (each one is stored in the prediction log), read the model and the statistics, ' +
          'and load the CPU until the server stops answering the lines that depend on it. Use it only on an isolated network; ' +
          'add a key (pnpm keys add <name>) instead.',
      );
      return;
    }
    if (keys || reviewers) return;
    if (isLoopbackBind(host)) return;
    throw new Error(
      `refusing to listen on ${host}: no API keys and no reviewer accounts exist${this.dbProblem ? ` (${this.dbProblem})` : ''}, so anyone who can reach ` +
        'this address could use the API. Add a key (pnpm keys add <name>) or a reviewer (pnpm users add <name>), listen on 127.0.0.1, ' +
        'or pass --insecure-no-auth to accept the risk',
    );
  }

  /** The live session of the request's cookie, with its token; null without one. */
  async sessionOf(req: IncomingMessage): Promise<(Session & { token: string }) | null> {
    const token = cookiesOf(req).get(SESSION_COOKIE);
    if (!token || !this.db) return null;
    const s = await findSession(this.db, token);
    return s ? { ...s, token } : null;
  }

  /** The Set-Cookie attributes of this server's cookies: HttpOnly, SameSite=Strict, Secure over TLS. */
  cookie(req: IncomingMessage, name: string, value: string, maxAgeS: number, path = '/'): string {
    return `${name}=${value}; Path=${path}; Max-Age=${Math.max(0, Math.round(maxAgeS))}; HttpOnly; SameSite=Strict${this.client(req).tls ? '; Secure' : ''}`;
  }

  /**
   * Admits the request (true: run its handler) or answers it (false: redirected to /login), or
   * throws the HttpError to answer with (401, 403, 429).
   */
  async admit(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<boolean> {
    const rule = ruleOf(pathname);
    if (rule === 'open') return true;
    const presented = presentedKey(req);
    if (presented !== null) {
      if (rule === 'metrics' && this.o.metricsToken && sameSecret(presented, this.o.metricsToken)) return true;
      const key = this.db ? await findApiKey(this.db, presented) : null;
      if (!key) throw new HttpError(401, 'bad-key', 'the API key is not one this server knows (send Authorization: Bearer <key> or X-API-Key: <key>; pnpm keys list shows the keys)', BEARER);
      if (key.revokedAt) throw new HttpError(403, 'key-revoked', `API key "${key.name}" (${key.prefix}…) was revoked at ${key.revokedAt}`);
      this.limiter.take(`key:${key.id}`, `API key "${key.name}"`);
      setPrincipal(req, { kind: 'key', id: key.id, name: key.name });
      return true;
    }
    const session = await this.sessionOf(req);
    if (session) {
      if (!SAFE_METHODS.has(req.method ?? '') && !sameSecret(req.headers[CSRF_HEADER] as string | undefined, session.csrf)) {
        throw new HttpError(403, 'csrf', "missing or wrong X-CSRF-Token header: this server's pages send it; a request made by another site cannot know it");
      }
      setPrincipal(req, { kind: 'reviewer', id: session.reviewerId, name: session.reviewer, csrf: session.csrf });
      return true;
    }
    const client = this.client(req);
    const { keys, reviewers } = await this.configured();
    const localOrInsecure = client.loopback || this.o.insecureNoAuth === true;
    switch (rule) {
      case 'metrics':
        if (client.loopback) return true;
        throw new HttpError(401, 'auth-required', '/metrics needs an API key, the metrics token (Authorization: Bearer <token>) or a request from this machine', BEARER);
      case 'page':
        if (this.openPage || (!keys && !reviewers && localOrInsecure)) return true;
        if (reviewers) return this.toLogin(req, res);
        throw new HttpError(401, 'login-required', 'the upload page needs a reviewer login (pnpm users add <name>) or serve --open-page, since API keys exist', BEARER);
      case 'review-page':
        if (reviewers) return this.toLogin(req, res);
        return true;
      case 'review-api':
        if (reviewers) throw new HttpError(401, 'login-required', 'the review API needs a signed-in reviewer (POST /login) or an API key', BEARER);
        if (keys) throw new HttpError(401, 'key-required', 'this server has API keys: send Authorization: Bearer <key> or X-API-Key: <key>', BEARER);
        return true;
      default:
        if (!keys && localOrInsecure) return true;
        if (this.openPage && (pathname === '/api/predict' || pathname === '/api/model')) {
          this.limiter.take(`addr:${client.address}`, `client ${client.address}`);
          return true;
        }
        throw new HttpError(
          401,
          keys ? 'key-required' : 'auth-required',
          keys ? 'this server has API keys: send Authorization: Bearer <key> or X-API-Key: <key>' : 'requests from beyond this machine need a reviewer login or an API key',
          BEARER,
        );
    }
  }

  private toLogin(req: IncomingMessage, res: ServerResponse): false {
    const here = new URL(req.url ?? '/', 'http://localhost');
    res.writeHead(303, { Location: `/login?next=${encodeURIComponent(here.pathname + here.search)}`, 'Cache-Control': 'no-store', 'Content-Length': 0 });
    res.end();
    return false;
  }
}
