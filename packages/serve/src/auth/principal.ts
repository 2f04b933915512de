// Who a request was admitted as, set by the access gate (access.ts) and read by the handlers: the
// review guard skips its loopback rule for an authenticated request, decisions are recorded under a
// signed-in reviewer's account name, and the pages carry the session's CSRF token.
import type { IncomingMessage } from 'node:http';

export type Principal = { kind: 'key'; id: number; name: string } | { kind: 'reviewer'; id: number; name: string; csrf: string };

const principals = new WeakMap<IncomingMessage, Principal>();

export function setPrincipal(req: IncomingMessage, p: Principal): void {
  principals.set(req, p);
}

/** The key or reviewer the request was admitted as; null for an anonymous one. */
export function principalOf(req: IncomingMessage): Principal | null {
  return principals.get(req) ?? null;
}

/**
 * The reviewer name a review decision is recorded under: the signed-in account's; for an API key
 * `key@<its name>` (a key holder cannot act under a reviewer's name); else (loopback, no accounts)
 * what the body says.
 */
export function reviewerOf(req: IncomingMessage, claimed: unknown): string {
  const p = principalOf(req);
  if (p?.kind === 'reviewer') return p.name;
  if (p?.kind === 'key') return `key@${p.name}`.replace(/[^\p{L}\p{N} ._@-]/gu, '_').slice(0, 64);
  return claimed as string;
}
