// GET /: the upload page.
import type { Handler } from './context';
import { renderPage } from '../page';

export const servePage: Handler = (_ctx, req, res) => {
  const html = renderPage();
  res.writeHead(200, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(html),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy':
      "default-src 'self'; img-src 'self' blob: data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'",
  });
  res.end(req.method === 'HEAD' ? undefined : html);
};
