// `pnpm diagnose`: every check in order, the exit status, and the text report.
import { checkBackends } from './backend-checks';
import { checkEngine } from './engine-checks';
import { checkBrowserAndFonts, checkDatasets, checkPromotedModel, checkWeights } from './file-checks';
import { checkPredictionLog } from './log-check';
import { realProbes, type DiagnoseProbes } from './probes';
import { checkNode, checkPnpm } from './runtime-checks';
import { checkSettings } from './settings-check';
import type { Check, DiagnoseReport, Verdict } from './types';

/** Runs every check. Required checks (Node, pnpm, one working backend) decide `ok`. */
export async function runDiagnose(p: DiagnoseProbes = realProbes()): Promise<DiagnoseReport> {
  const runtime = await Promise.all([checkNode(p), checkPnpm(p)]);
  const backends = await checkBackends(p);
  // The model loads on the backend the backend checks left current (wasm when it works).
  const files = [...(await checkWeights(p)), ...(await checkBrowserAndFonts(p)), await checkDatasets(p), await checkPromotedModel(p), await checkPredictionLog(p)];
  const engine = p.onnxRuntime ? [await checkEngine(p.onnxRuntime, backends.backend)] : [];
  const checks = [...runtime, checkSettings(p.env), ...backends.checks, ...engine, ...files];
  return { ok: !checks.some((c) => c.required && c.verdict === 'fail'), backend: backends.backend, checks };
}

export function exitCode(report: DiagnoseReport): number {
  return report.ok ? 0 : 1;
}

const WIDTH = Math.max(...(['ok', 'warn', 'fail', 'info'] satisfies Verdict[]).map((v) => v.length));

/** The human report: `verdict  title  summary`, a `fix:` line under it when there is something to do. */
export function formatReport(report: DiagnoseReport): string {
  const titleWidth = Math.max(...report.checks.map((c) => c.title.length));
  const lines: string[] = [];
  for (const c of report.checks) {
    lines.push(`${c.verdict.padEnd(WIDTH)}  ${c.title.padEnd(titleWidth)}  ${c.summary}`);
    if (c.fix) lines.push(`${' '.repeat(WIDTH + titleWidth + 4)}fix: ${c.fix}`);
  }
  const count = (v: Verdict) => report.checks.filter((c: Check) => c.verdict === v).length;
  lines.push('');
  lines.push(
    report.ok
      ? `ready: ${report.backend ? `computing on ${report.backend.name}` : 'no backend'}; ${count('ok')} ok, ${count('warn')} warn, ${count('info')} info`
      : `not ready: ${report.checks.filter((c) => c.required && c.verdict === 'fail').map((c) => c.title).join(', ')} failed (see fix above)`,
  );
  return lines.join('\n') + '\n';
}
