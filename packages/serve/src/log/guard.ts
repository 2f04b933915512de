// What a state-changing review request must show before it is acted on, while the server has no
// accounts: it comes from this machine (loopback), from this server's own page (same origin, and a
// custom header a cross-site form or a simple cross-site fetch cannot send without a CORS preflight,
// which this server never grants), as JSON of bounded size, within a request rate. A request the
// access gate admitted with an API key or a reviewer's session (auth/access.ts, which checked the
// session's CSRF token) skips the loopback rule and the custom header; the rest still applies.
import type { IncomingMessage } from 'node:http';
import { HttpError } from '../errors';
import { principalOf } from '../auth/principal';

export const REVIEW_HEADER = 'x-parts-review';
export const MAX_JSON_BYTES = 64 * 1024;

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a === '::1' || /^127\.\d+\.\d+\.\d+$/.test(a);
}

/** Whether the Host header names this machine: localhost, 127.x.x.x or [::1] (any port). */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
  return name === 'localhost' || name === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(name);
}

/**
 * Throws 403 unless the request comes from this machine and names it in its Host header. The Host
 * check stops DNS rebinding: a page of a site whose name resolves to 127.0.0.1 is same-origin with
 * itself and reaches loopback, but its requests carry its own name as Host. The logged photos and
 * the review actions are for this machine alone while the server has no accounts.
 */
export function checkReviewAccess(req: IncomingMessage): void {
  if (principalOf(req)) return;
  // A loopback peer that forwards for someone (a local reverse proxy) is not this machine's user.
  if (!isLoopback(req.socket.remoteAddress) || req.headers['x-forwarded-for'] !== undefined || req.headers.forwarded !== undefined) {
    throw new HttpError(403, 'forbidden', 'the review queue and its photos are for this machine only (loopback, not forwarded) until accounts exist');
  }
  if (!isLoopbackHost(req.headers.host)) {
    throw new HttpError(403, 'forbidden', `Host ${JSON.stringify(req.headers.host ?? '')} is not this machine (localhost, 127.0.0.1 or [::1]): refused`);
  }
}

/** Throws 403 unless the request is a same-origin, loopback request from the review page. */
export function checkStateChange(req: IncomingMessage): void {
  const admitted = principalOf(req) !== null;
  checkReviewAccess(req);
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') throw new HttpError(403, 'cross-site', `cross-site request refused (Sec-Fetch-Site: ${site})`);
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${req.headers.host}` && origin !== `https://${req.headers.host}`) throw new HttpError(403, 'cross-site', `cross-site request refused (Origin ${origin})`);
  if (!admitted && req.headers[REVIEW_HEADER] !== '1') throw new HttpError(403, 'csrf', `missing header X-Parts-Review: 1 (sent by the review page; refused without it)`);
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new HttpError(415, 'unsupported-media-type', 'send the request body as application/json');
}

/** Reads a JSON object body of at most MAX_JSON_BYTES. */
export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_JSON_BYTES) throw new HttpError(413, 'too-large', `request body exceeds the limit of ${MAX_JSON_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_JSON_BYTES) throw new HttpError(413, 'too-large', `request body exceeds the limit of ${MAX_JSON_BYTES} bytes`);
    chunks.push(c);
  }
  let v: unknown;
  try {
    v = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  } catch (e) {
    throw new HttpError(400, 'bad-json', `request body is not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new HttpError(400, 'bad-json', 'request body must be a JSON object');
  return v as Record<string, unknown>;
}
