// GET /: the upload page.
import type { Handler } from './context';
import { renderPage } from '../page';
import { withSession } from '../auth/login-page';
import { principalOf } from '../auth/principal';

export const servePage: Handler = (ctx, req, res) =>
  sendPage(req, res, withSession(renderPage({ review: ctx.predictionLog !== null }), principalOf(req)));

/** The pages' own policy: their scripts inline, photos as blob:/data: URLs, requests to this server only. */
const PAGE_CSP = "default-src 'self'; img-src 'self' blob: data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'";

/**
 * Answers an HTML page of this server (own scripts inline; camera allowed for capture), or, with
 * `o.csp` and `o.headers`, another policy and extra headers (the login page: no scripts, cookies).
 */
export function sendPage(
  req: Parameters<Handler>[1],
  res: Parameters<Handler>[2],
  html: string,
  status = 200,
  o: { csp?: string; headers?: Record<string, string | string[]> } = {},
): void {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(html),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Content-Security-Policy': o.csp ?? PAGE_CSP,
    ...o.headers,
  });
  res.end(req.method === 'HEAD' ? undefined : html);
}
