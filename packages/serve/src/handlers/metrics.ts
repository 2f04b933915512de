// GET /metrics: the Prometheus text exposition of this server's registry (metrics.ts).
import { METRICS_CONTENT_TYPE } from '../metrics';
import type { Handler } from './context';

export const serveMetrics: Handler = async (ctx, req, res) => {
  const text = await ctx.metrics.text();
  res.writeHead(200, { 'Content-Type': METRICS_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : text);
};
