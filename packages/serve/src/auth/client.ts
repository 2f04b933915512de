// Where a request comes from, as far as the server can tell: the peer address, or, when the peer is
// a trusted reverse proxy (--trust-proxy), the nearest address in X-Forwarded-For that is not one of
// the trusted proxies, and whether the client's connection was TLS (an https listener, or
// X-Forwarded-Proto: https from a trusted proxy). A loopback peer that sends forwarding headers
// without being trusted is not counted as this machine: it is most likely a local proxy relaying
// requests from elsewhere, and the loopback rules must not open the server to them.
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { isLoopback } from '../log/guard';

export interface Client {
  address: string;
  /** The client is this machine (the loopback rules apply). */
  loopback: boolean;
  /** The client's connection was TLS: cookies get Secure. */
  tls: boolean;
}

const plain = (a: string) => (a.startsWith('::ffff:') ? a.slice(7) : a);

/** `--trust-proxy` text (comma-separated addresses) as a set; 'loopback' stands for 127.0.0.1 and ::1. */
export function parseTrustedProxies(list: string | readonly string[] | undefined): Set<string> {
  const items = (typeof list === 'string' ? list.split(',') : (list ?? [])).map((s) => s.trim()).filter(Boolean);
  const out = new Set<string>();
  for (const a of items) {
    if (a === 'loopback') ['127.0.0.1', '::1'].forEach((x) => out.add(x));
    else if (/^[0-9a-fA-F.:]+$/.test(a)) out.add(plain(a.toLowerCase()));
    else throw new RangeError(`--trust-proxy: ${JSON.stringify(a)} is not an IP address (or 'loopback')`);
  }
  return out;
}

const first = (h: string | string[] | undefined) => (Array.isArray(h) ? h[0] : h);

export function clientOf(req: IncomingMessage, trusted: ReadonlySet<string>): Client {
  const peer = plain(req.socket.remoteAddress ?? '');
  const tlsSocket = Boolean((req.socket as TLSSocket).encrypted);
  const xff = first(req.headers['x-forwarded-for']);
  const forwarded = xff !== undefined || req.headers.forwarded !== undefined;
  if (!trusted.has(peer)) return { address: peer, loopback: isLoopback(peer) && !forwarded, tls: tlsSocket };
  // A trusted proxy's address without forwarding headers is a direct client (a Prometheus beside the
  // proxy, a health probe): the proxy itself always names the client it forwards for.
  if (!forwarded) return { address: peer, loopback: isLoopback(peer), tls: tlsSocket };
  const hops = (xff ?? '').split(',').map((s) => plain(s.trim())).filter(Boolean);
  let address = '';
  for (let i = hops.length - 1; i >= 0; i--) {
    address = hops[i]!;
    if (!trusted.has(address)) break;
  }
  const proto = (first(req.headers['x-forwarded-proto']) ?? '').split(',')[0]!.trim().toLowerCase();
  // A trusted proxy that names no client: nothing is known of it, so it is not this machine.
  return { address: address || peer, loopback: address !== '' && isLoopback(address), tls: tlsSocket || proto === 'https' };
}
