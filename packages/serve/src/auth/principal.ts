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

/** The reviewer name a review decision is recorded under: the signed-in account's, else what the body says. */
export function reviewerOf(req: IncomingMessage, claimed: unknown): string {
  const p = principalOf(req);
  return p?.kind === 'reviewer' ? p.name : (claimed as string);
}
