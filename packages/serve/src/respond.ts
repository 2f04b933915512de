// Writing answers: JSON bodies and JSON errors, with the connection handling every route shares.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, type ErrorBody } from './errors';

const JSON_TYPE = 'application/json; charset=utf-8';

/** Whether the request carries a body at all (GETs usually do not). */
function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && Number(len) > 0);
}

/** `closing`: the server is shutting down, so the connection is not kept alive. */
export function sendJson(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  closing = false,
): void {
  const text = JSON.stringify(body);
  // Answering before the body was read (limits, 503): close the connection instead of
  // keeping it alive, and drain what the client still sends for a moment so it reads our
  // answer rather than a reset.
  const unread = hasBody(req) && !req.complete;
  res.writeHead(status, {
    'Content-Type': JSON_TYPE,
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...(unread || closing ? { Connection: 'close' } : {}),
    ...headers,
  });
  res.end(req.method === 'HEAD' ? undefined : text);
  if (unread) {
    req.resume();
    const timer = setTimeout(() => req.socket.destroy(), 1000);
    timer.unref();
    req.socket.once('close', () => clearTimeout(timer));
  }
}

/** Answers with the error's status and JSON body; anything but an HttpError is a 500. */
export function sendError(req: IncomingMessage, res: ServerResponse, err: unknown, log: (m: string) => void, closing = false): void {
  const e = err instanceof HttpError ? err : new HttpError(500, 'internal', `internal error: ${(err as Error)?.message ?? String(err)}`);
  if (e.status >= 500 && e.status !== 503) log(`${req.method} ${req.url} -> ${e.status}: ${e.message}`);
  const body: ErrorBody = { status: e.status, code: e.code, error: e.message };
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(req, res, e.status, body, e.headers, closing);
}

/** 503 while no model answers; `reason` says why (not loaded yet, or refused and why). */
export const notReady = (reason = 'model not loaded yet') => new HttpError(503, 'not-ready', `no model is ready: ${reason}`, { 'Retry-After': '1' });
