// What a state-changing review request must show before it is acted on, while the server has no
// accounts: it comes from this machine (loopback), from this server's own page (same origin, and a
// custom header a cross-site form or a simple cross-site fetch cannot send without a CORS preflight,
// which this server never grants), as JSON of bounded size, within a request rate.
import type { IncomingMessage } from 'node:http';
import { HttpError } from '../errors';

export const REVIEW_HEADER = 'x-parts-review';
export const MAX_JSON_BYTES = 64 * 1024;

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a === '::1' || /^127\.\d+\.\d+\.\d+$/.test(a);
}

/** Throws 403 unless the request is a same-origin, loopback request from the review page. */
export function checkStateChange(req: IncomingMessage): void {
  if (!isLoopback(req.socket.remoteAddress)) {
    throw new HttpError(403, 'forbidden', 'reviewing changes the log: allowed from this machine only (loopback) until accounts exist');
  }
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') throw new HttpError(403, 'cross-site', `cross-site request refused (Sec-Fetch-Site: ${site})`);
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${req.headers.host}`) throw new HttpError(403, 'cross-site', `cross-site request refused (Origin ${origin})`);
  if (req.headers[REVIEW_HEADER] !== '1') throw new HttpError(403, 'csrf', `missing header X-Parts-Review: 1 (sent by the review page; refused without it)`);
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

/** A token bucket: `perSecond` sustained, `burst` at once; take() throws 429 when empty. */
export class RateLimiter {
  private tokens: number;
  private at = performance.now();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  take(): void {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
    if (this.tokens < 1) throw new HttpError(429, 'rate-limited', `too many review requests (limit ${this.perSecond}/s); retry shortly`, { 'Retry-After': '1' });
    this.tokens -= 1;
  }
}
