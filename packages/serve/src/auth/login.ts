// GET/POST /login and POST /logout. The login form carries a token that must equal its HttpOnly,
// SameSite=Strict cookie (set with the form), so a form posted from another site, which gets
// neither, is refused; an Origin or Sec-Fetch-Site naming another site is refused too. Wrong
// passwords are throttled per account and per client address (throttle.ts): 429 with Retry-After.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../errors';
import type { Handler } from '../handlers/context';
import type { AccessControl } from './access';
import { cookiesOf, SESSION_COOKIE, CSRF_HEADER } from './access';
import { renderLoginPage } from './login-page';
import { sendPage } from '../handlers/page';
import { checkLogin } from './reviewers';
import { createSession, deleteSession, sameSecret } from './sessions';

const LOGIN_COOKIE = 'parts_login';
const MAX_FORM_BYTES = 8 * 1024;

/** The login page runs no script and posts only to this server. */
const LOGIN_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";

const sendHtml = (req: IncomingMessage, res: ServerResponse, status: number, html: string, headers: Record<string, string | string[]> = {}) =>
  sendPage(req, res, html, status, { csp: LOGIN_CSP, headers });

/** A local path to go to after signing in; anything else (another site, `//host`) goes to /review. */
function safeNext(next: string | null | undefined): string {
  return typeof next === 'string' && /^\/(?![/\\])[A-Za-z0-9/_\-.?=&%]*$/.test(next) ? next : '/review';
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new HttpError(415, 'unsupported-media-type', 'send the form as application/x-www-form-urlencoded');
  if (Number(req.headers['content-length'] ?? 0) > MAX_FORM_BYTES) throw new HttpError(413, 'too-large', `form exceeds ${MAX_FORM_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_FORM_BYTES) throw new HttpError(413, 'too-large', `form exceeds ${MAX_FORM_BYTES} bytes`);
    chunks.push(c);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** Throws 403 when the browser says the request comes from another site. */
function checkSameSite(req: IncomingMessage): void {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') throw new HttpError(403, 'cross-site', `cross-site request refused (Sec-Fetch-Site: ${site})`);
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${req.headers.host}` && origin !== `https://${req.headers.host}`) {
    throw new HttpError(403, 'cross-site', `cross-site request refused (Origin ${origin})`);
  }
}

function loginForm(access: AccessControl, req: IncomingMessage, res: ServerResponse, status: number, o: { next: string; error?: string; note?: string; headers?: Record<string, string> }): void {
  const csrf = randomBytes(32).toString('base64url');
  sendHtml(req, res, status, renderLoginPage({ csrf, next: o.next, error: o.error, note: o.note }), {
    ...(o.headers ?? {}),
    'Set-Cookie': access.cookie(req, LOGIN_COOKIE, csrf, 3600, '/login'),
  });
}

export const serveLogin: Handler = async (ctx, req, res) => {
  if (req.method === 'POST') return postLogin(ctx, req, res, 0);
  const access = ctx.access;
  const next = safeNext(new URL(req.url ?? '/', 'http://localhost').searchParams.get('next'));
  const { reviewers } = await access.configured();
  const session = await access.sessionOf(req);
  const note = !reviewers
    ? 'No reviewer accounts exist yet: the operator adds one with pnpm users add <name>.'
    : session
      ? `Signed in as ${session.reviewer}.`
      : undefined;
  loginForm(access, req, res, 200, { next, note });
};

export const postLogin: Handler = async (ctx, req, res) => {
  const access = ctx.access;
  checkSameSite(req);
  const form = await readForm(req);
  const next = safeNext(form.get('next'));
  if (!sameSecret(form.get('csrf') ?? undefined, cookiesOf(req).get(LOGIN_COOKIE))) {
    // A form from another site (or one that expired): refused before any password is checked.
    return loginForm(access, req, res, 403, { next, error: "This sign-in form was not sent from this server's /login page, or it expired: sign in again." });
  }
  const name = form.get('username') ?? '';
  const password = form.get('password') ?? '';
  const address = access.client(req).address;
  const wait = access.throttle.waitS(name, address);
  if (wait > 0) {
    return loginForm(access, req, res, 429, { next, error: `Too many wrong passwords: try again in ${wait} s.`, headers: { 'Retry-After': String(wait) } });
  }
  // Counted as a wrong password before the (slow) check and cleared when it is right: tries sent at
  // once cannot all pass the wait check above before any of them is counted.
  access.throttle.failed(name, address);
  const who = access.db && name.length <= 64 && password ? await checkLogin(access.db, name, password) : null;
  if (!who) {
    return loginForm(access, req, res, 401, { next, error: 'Wrong name or password.' });
  }
  access.throttle.succeeded(name, address);
  const { token } = await createSession(access.db!, who.id, access.sessionMs);
  res.writeHead(303, {
    Location: next,
    'Cache-Control': 'no-store',
    'Content-Length': 0,
    'Set-Cookie': [access.cookie(req, SESSION_COOKIE, token, access.sessionMs / 1000), access.cookie(req, LOGIN_COOKIE, '', 0, '/login')],
  });
  res.end();
};

export const postLogout: Handler = async (ctx, req, res) => {
  const access = ctx.access;
  checkSameSite(req);
  const session = await access.sessionOf(req);
  if (session) {
    const header = req.headers[CSRF_HEADER] as string | undefined;
    const token = header ?? (await readForm(req)).get('csrf') ?? undefined;
    if (!sameSecret(token, session.csrf)) throw new HttpError(403, 'csrf', 'sign out from this server\'s pages (the CSRF token is missing or wrong)');
    await deleteSession(access.db!, session.token);
  }
  res.writeHead(303, { Location: '/login', 'Cache-Control': 'no-store', 'Content-Length': 0, 'Set-Cookie': access.cookie(req, SESSION_COOKIE, '', 0) });
  res.end();
};
