// GET /api/model, /api/stats, /healthz, /readyz: what is served and whether it can answer.
import type { OodSummary } from '@parts/models';
import type { ModelInfo } from '../model-source';
import { notReady } from '../respond';
import type { Handler, HandlerContext } from './context';

/** `unknown` of GET /api/model: the scorer and threshold in use, or why nothing is ever unknown. */
function describeUnknown(ood: OodSummary) {
  if (!ood.active) return { active: false, reason: ood.reason, temperature: 1 };
  const { active, method, threshold, storedThreshold, thresholdOverridden, acceptRate, temperature } = ood;
  return { active, method, threshold, acceptRate, temperature, thresholdOverridden, ...(thresholdOverridden ? { storedThreshold } : {}) };
}

function modelCard(ctx: HandlerContext, info: ModelInfo, ood: OodSummary) {
  const { meta: _meta, ...rest } = info;
  return { ...rest, loadedAt: ctx.loadedAt.get(info.id), unknown: describeUnknown(ood) };
}

export const serveModel: Handler = (ctx, req, res) => {
  const engine = ctx.host.current;
  if (!engine) throw notReady();
  ctx.sendJson(req, res, 200, modelCard(ctx, engine.info, engine.ood));
};

export const serveStats: Handler = async (ctx, req, res) => {
  ctx.sendJson(req, res, 200, await ctx.stats());
};

export const serveHealth: Handler = (ctx, req, res) => {
  ctx.sendJson(req, res, 200, { status: 'ok', uptimeS: Math.round(process.uptime()) });
};

export const serveReady: Handler = (ctx, req, res) => {
  const { host, counters } = ctx;
  const info = host.current?.info;
  const down = host.current?.downReason;
  if (host.ready && info && !counters.closing && !down) ctx.sendJson(req, res, 200, { ready: true, model: info.id });
  else ctx.sendJson(req, res, 503, { ready: false, reason: counters.closing ? 'shutting down' : (down ?? 'model not loaded yet') });
};
