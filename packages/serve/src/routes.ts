// The route table of the server and the dispatch from a request to its handler.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from './errors';
import type { Handler, HandlerContext } from './handlers/context';
import { serveMetrics } from './handlers/metrics';
import { servePage } from './handlers/page';
import { predict } from './handlers/predict';
import { serveHealth, serveModel, serveReady, serveStats } from './handlers/status';
import { postDecision, postRetrain, postUndo, serveExplanation, serveHistory, servePhoto, serveQueue, serveRetrain, serveReviewed } from './handlers/review';
import { serveReviewPage } from './handlers/review-page';
import { postLogout, serveLogin } from './auth/login';

export interface Route {
  methods: string[];
  handle: Handler;
}

const READ = ['GET', 'HEAD'];

export const ROUTES: Readonly<Record<string, Route>> = {
  '/': { methods: READ, handle: servePage },
  '/api/predict': { methods: ['POST'], handle: predict },
  '/api/model': { methods: READ, handle: serveModel },
  '/api/stats': { methods: READ, handle: serveStats },
  '/healthz': { methods: READ, handle: serveHealth },
  '/readyz': { methods: READ, handle: serveReady },
  '/metrics': { methods: READ, handle: serveMetrics },
  '/review': { methods: READ, handle: serveReviewPage },
  '/api/review/queue': { methods: READ, handle: serveQueue },
  '/api/review/photo': { methods: READ, handle: servePhoto },
  '/api/review/explain': { methods: READ, handle: serveExplanation },
  '/api/review/history': { methods: READ, handle: serveHistory },
  '/api/review/reviewed': { methods: READ, handle: serveReviewed },
  '/api/review/decide': { methods: ['POST'], handle: postDecision },
  '/api/review/undo': { methods: ['POST'], handle: postUndo },
  '/login': { methods: [...READ, 'POST'], handle: serveLogin },
  '/logout': { methods: ['POST'], handle: postLogout },
  '/api/review/retrain': { methods: [...READ, 'POST'], handle: (ctx, req, res, t) => (req.method === 'POST' ? postRetrain : serveRetrain)(ctx, req, res, t) },
};

/** The route label of a request path in metrics: a path of the table, else "other" (bounded label values). */
export function routeLabel(url: string | undefined): string {
  let p: string;
  try {
    p = new URL(url ?? '/', 'http://localhost').pathname;
  } catch {
    return 'other';
  }
  return Object.hasOwn(ROUTES, p) ? p : 'other';
}

/**
 * Runs the handler of the request's path once the access gate admits it (auth/access.ts: 401, 403,
 * 429 or a redirect to /login otherwise); throws HttpError 404/405 for unknown paths and methods.
 */
export async function dispatch(ctx: HandlerContext, req: IncomingMessage, res: ServerResponse, started: number): Promise<void> {
  let pathname: string;
  try {
    pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
  } catch {
    pathname = '';
  }
  if (pathname === '/favicon.ico') {
    res.writeHead(204).end();
    return;
  }
  const route = ROUTES[pathname] as Route | undefined;
  if (!route) throw new HttpError(404, 'not-found', `no such path: ${pathname}`);
  if (!route.methods.includes(req.method ?? '')) {
    throw new HttpError(405, 'method-not-allowed', `${req.method} is not allowed on ${pathname}; use ${route.methods.join(' or ')}`, {
      Allow: route.methods.join(', '),
    });
  }
  if (!(await ctx.access.admit(req, res, pathname))) return;
  await route.handle(ctx, req, res, started);
}
