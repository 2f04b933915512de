// GET /api/model, /api/stats, /healthz, /readyz: what is served and whether it can answer.
import type { EngineInfo, OodSummary } from '@parts/models';
import { NO_PARITY_NOTE } from '../model-host';
import type { ModelInfo } from '../model-source';
import { notReady } from '../respond';
import type { Handler, HandlerContext } from './context';

/** `unknown` of GET /api/model: the scorer and threshold in use, or why nothing is ever unknown. */
function describeUnknown(ood: OodSummary) {
  if (!ood.active) return { active: false, reason: ood.reason, temperature: 1 };
  const { active, method, threshold, storedThreshold, thresholdOverridden, acceptRate, temperature, silhouette } = ood;
  return { active, method, threshold, acceptRate, temperature, thresholdOverridden, ...(thresholdOverridden ? { storedThreshold } : {}), ...(silhouette ? { silhouette } : {}) };
}

/**
 * The model in service, its unknown detection, its parity check (`parity`: null when its folder has
 * no record, with `parityNote` saying what that means), where its forward pass runs (`engine`: name,
 * detail, reason) and the last refused candidate (`rejected`, else null).
 */
function modelCard(ctx: HandlerContext, info: ModelInfo, ood: OodSummary, engine: EngineInfo) {
  const { meta: _meta, ...rest } = info;
  const parity = ctx.host.parity;
  return {
    ...rest,
    loadedAt: ctx.loadedAt.get(info.id),
    unknown: describeUnknown(ood),
    parity,
    ...(parity ? {} : { parityNote: NO_PARITY_NOTE }),
    engine,
    rejected: ctx.host.refused,
  };
}

export const serveModel: Handler = (ctx, req, res) => {
  const { host } = ctx;
  const engine = host.current;
  if (engine) return ctx.sendJson(req, res, 200, modelCard(ctx, engine.info, engine.ood, engine.engine));
  // No model in service because it was refused: say which and why.
  if (host.refused) {
    return ctx.sendJson(req, res, 503, { status: 503, code: 'model-refused', error: `no model is ready: ${host.notReadyReason}`, rejected: host.refused });
  }
  throw notReady(host.notReadyReason);
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
  else {
    const reason = counters.closing ? 'shutting down' : (down ?? host.notReadyReason);
    ctx.sendJson(req, res, 503, { ready: false, reason, ...(host.current ? {} : { rejected: host.refused }) });
  }
};
