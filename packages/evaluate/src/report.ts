// The report folder reports/<timestamp>/: index.html (self-contained: every picture is inlined as a
// data URI so the file opens from disk or as a mail attachment), report.md (pictures as files beside
// it), leaderboard.json. Built in a temp folder and renamed, so a report folder is always complete.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { confusionMatrixPng, learningCurvesPng, leaderboardPng, reliabilityDiagramPng, rocCurvePng, scoreHistogramPng } from './charts';
import { robustnessChartPng } from './robustness-chart';
import { EXTRA_GRIDS, robustnessTableHtml } from './robustness';
import type { LeaderboardBar } from './charts';
import { misclassifiedGallery } from './gallery';
import type { GalleryItem, GalleryOptions } from './gallery';
import { buildLeaderboard, PUBLISHED_STUDY, publishedResult } from './leaderboard';
import type { Leaderboard, LeaderboardEntry, ReportRun } from './leaderboard';
import { exists, siblingTemp } from './fsutil';
import type { Evaluation } from './evaluation-record';
import { explanationFocusText, type GradCamItem } from './gradcam-gallery';

export interface ReportOptions {
  /** Parent folder of the report folders (e.g. <repo>/reports). */
  outRoot: string;
  title?: string;
  /** Names the folder (YYYYMMDD-HHMMSS); default now. */
  date?: Date;
  gallery?: GalleryOptions;
  /** Lines printed in the report's header, e.g. the study's total time. */
  notes?: string[];
}

export interface ReportResult {
  dir: string;
  leaderboard: Leaderboard;
  /** Non-fatal problems met while drawing (a chart or thumbnail that failed). */
  warnings: string[];
}

interface Picture {
  /** Path relative to the report folder. */
  rel: string;
  bytes: Buffer;
  mime: 'image/png' | 'image/jpeg';
}

interface RunSection {
  run: ReportRun;
  entry: LeaderboardEntry;
  confusion?: Picture;
  roc?: Picture;
  curves?: Picture;
  gallery: (GalleryItem & { picture?: Picture })[];
  reliability?: Picture;
  scores?: Picture;
  robustness?: Picture;
  gradcam: (GradCamItem & { picture?: Picture })[];
}

export async function writeReport(runs: ReportRun[], opts: ReportOptions): Promise<ReportResult> {
  const date = opts.date ?? new Date();
  const leaderboard = buildLeaderboard(runs, date);
  const warnings: string[] = [];
  const attempt = <T>(what: string, f: () => T): T | undefined => {
    try {
      return f();
    } catch (e) {
      warnings.push(`${what}: ${(e as Error).message}`);
      return undefined;
    }
  };

  const barsFor = leaderboard.entries.filter((e) => e.status === 'ok' || e.published);
  const ns = [...new Set(leaderboard.entries.filter((e) => e.n).map((e) => e.n))];
  const leaderboardPicture: Picture | undefined = barsFor.length
    ? attempt('leaderboard chart', () => ({
        rel: 'charts/leaderboard.png',
        mime: 'image/png' as const,
        bytes: leaderboardPng(barsFor.map(toBar), { ourN: ns.length === 1 ? ns[0] : undefined, publishedN: PUBLISHED_STUDY.n }),
      }))
    : undefined;

  const sections: RunSection[] = [];
  for (const entry of leaderboard.entries.filter((e) => e.status === 'ok')) {
    const run = runs.find((r) => r.runId === entry.runId && r.evaluation)!;
    const ev = run.evaluation!;
    const slug = safeName(run.runId);
    const title = `${ev.arch} ${ev.mode}`;
    const section: RunSection = { run, entry, gallery: [], gradcam: [] };
    section.confusion = attempt(`${run.runId} confusion matrix`, () => ({
      rel: `charts/${slug}-confusion.png`,
      mime: 'image/png' as const,
      bytes: confusionMatrixPng(ev.confusion.labels, ev.confusion.counts, { title: `Confusion matrix — ${title} (${ev.split}, n=${ev.n})` }),
    }));
    section.roc = attempt(`${run.runId} ROC curve`, () => ({
      rel: `charts/${slug}-roc.png`,
      mime: 'image/png' as const,
      bytes: rocCurvePng(
        ev.roc.map((c) => ({ ...c, auc: ev.perClass.find((p) => p.label === c.label)?.rocAuc ?? null })),
        { title: `ROC — ${title}${ev.roc.length > 1 ? ' (one-vs-rest)' : ` (positive: ${ev.roc[0]?.label})`}` },
      ),
    }));
    if (run.history?.epochs.length) {
      section.curves = attempt(`${run.runId} learning curves`, () => ({
        rel: `charts/${slug}-curves.png`,
        mime: 'image/png' as const,
        bytes: learningCurvesPng(run.history!.epochs, { title, bestEpoch: run.history!.bestEpoch }),
      }));
    }
    const items = await misclassifiedGallery(ev.predictions, opts.gallery);
    section.gallery = items.map((it, i) => {
      if (it.error) warnings.push(it.error);
      return { ...it, picture: it.jpeg ? { rel: `misclassified/${slug}/${String(i + 1).padStart(3, '0')}.jpg`, mime: 'image/jpeg' as const, bytes: it.jpeg } : undefined };
    });
    const cal = ev.calibration;
    if (cal) {
      section.reliability = attempt(`${run.runId} reliability diagram`, () => ({
        rel: `charts/${slug}-reliability.png`,
        mime: 'image/png' as const,
        bytes: reliabilityDiagramPng(cal.binsBefore, cal.temperature != null ? cal.binsAfter : null, {
          title: `Reliability — ${title} (${ev.split}, n=${cal.n})`,
          eceBefore: cal.eceBefore,
          eceAfter: cal.temperature != null ? cal.eceAfter : undefined,
          temperature: cal.temperature,
        }),
      }));
    }
    const ood = ev.ood;
    if (ood?.status === 'ok' && ood.scores && ood.threshold !== undefined) {
      const { known, far } = ood.scores;
      const threshold = ood.threshold;
      section.scores = attempt(`${run.runId} OOD score histogram`, () => ({
        rel: `charts/${slug}-ood-scores.png`,
        mime: 'image/png' as const,
        bytes: scoreHistogramPng(known, far, threshold, { title: `OOD scores — ${title}`, method: ood.parts?.feature.method ?? ood.method }),
      }));
    }
    if (ev.robustness?.some((r) => r.level > 0)) {
      section.robustness = attempt(`${run.runId} robustness chart`, () => ({
        rel: `charts/${slug}-robustness.png`,
        mime: 'image/png' as const,
        bytes: robustnessChartPng(ev.robustness!.filter((r) => !r.grid), { title: `Accuracy under shifts — ${title} (n=${ev.robustnessSummary?.photos ?? '?'})` }),
      }));
    }
    for (const [i, g] of (ev.gradcam?.items ?? []).entries()) {
      if (g.error) warnings.push(g.error);
      let picture: Picture | undefined;
      if (g.overlay) {
        try {
          picture = { rel: `gradcam/${slug}/${String(i + 1).padStart(3, '0')}.png`, mime: 'image/png', bytes: await fs.readFile(path.join(ev.runDir, g.overlay)) };
        } catch (e) {
          warnings.push(`${run.runId} Grad-CAM overlay ${g.overlay}: ${(e as Error).message}`);
        }
      }
      section.gradcam.push({ ...g, picture });
    }
    sections.push(section);
  }

  const finalDir = await freeReportDir(opts.outRoot, date);
  const tmp = siblingTemp(finalDir);
  await fs.mkdir(tmp, { recursive: true });
  try {
    const pictures = [
      leaderboardPicture,
      ...sections.flatMap((s) => [s.confusion, s.roc, s.curves, s.reliability, s.scores, s.robustness, ...s.gallery.map((g) => g.picture), ...s.gradcam.map((g) => g.picture)]),
    ].filter(
      (p): p is Picture => !!p,
    );
    for (const p of pictures) {
      await fs.mkdir(path.dirname(path.join(tmp, p.rel)), { recursive: true });
      await fs.writeFile(path.join(tmp, p.rel), p.bytes);
    }
    const title = opts.title ?? 'Parts classifier — evaluation report';
    await fs.writeFile(path.join(tmp, 'leaderboard.json'), JSON.stringify(leaderboard, null, 2) + '\n');
    await fs.writeFile(path.join(tmp, 'report.md'), renderMarkdown(title, leaderboard, sections, leaderboardPicture, opts.notes ?? [], warnings));
    await fs.writeFile(path.join(tmp, 'index.html'), renderHtml(title, leaderboard, sections, leaderboardPicture, opts.notes ?? [], warnings));
    await fs.rename(tmp, finalDir);
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return { dir: finalDir, leaderboard, warnings };
}

function toBar(e: LeaderboardEntry): LeaderboardBar {
  const label = `${e.arch ?? '?'} ${e.mode ?? ''}${e.status === 'ok' ? '' : ` (${e.status})`}`.trim();
  const pub = e.published ?? (e.arch && e.mode ? publishedResult(e.arch, e.mode) : null);
  return {
    label,
    accuracy: e.accuracy ?? null,
    interval: e.accuracyInterval ?? null,
    published: pub ? { accuracy: pub.accuracy, interval: pub.interval } : null,
  };
}

async function freeReportDir(root: string, date: Date): Promise<string> {
  const p = (n: number) => String(n).padStart(2, '0');
  const base = `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}-${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}`;
  await fs.mkdir(root, { recursive: true });
  for (let i = 1; ; i++) {
    const dir = path.join(root, i === 1 ? base : `${base}-${i}`);
    if (!(await exists(dir))) return dir;
  }
}

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '_');
}

// ---------- formatting ----------

const pct = (x: number | undefined | null) => (x == null || !Number.isFinite(x) ? '—' : `${(x * 100).toFixed(1)}%`);
const num = (x: number | undefined | null, d = 3) => (x == null || !Number.isFinite(x) ? '—' : x.toFixed(d));
const ci = (e: { accuracyInterval?: { low: number; high: number } }) =>
  e.accuracyInterval ? `${pct(e.accuracyInterval.low)}–${pct(e.accuracyInterval.high)}` : '—';
const mb = (b: number | undefined) => (b == null ? '—' : `${(b / 1e6).toFixed(2)} MB`);
const pubText = (p: LeaderboardEntry['published']) => (p ? `${p.accuracy.toFixed(2)} (≈${p.correct}/${p.n})` : '—');

function leaderboardRows(lb: Leaderboard): string[][] {
  return lb.entries
    .filter((e) => e.status === 'ok')
    .map((e) => [
      String(e.rank),
      e.runId,
      e.arch ?? '',
      e.mode ?? '',
      `${pct(e.accuracy)} (${e.correct}/${e.n})`,
      ci(e),
      pct(e.balancedAccuracy),
      num(e.macroF1),
      num(e.rocAuc),
      num(e.logLoss),
      mb(e.modelBytes),
      pubText(e.published),
    ]);
}

const LB_HEAD = ['#', 'run', 'arch', 'mode', 'accuracy', 'Wilson 95%', 'balanced acc.', 'macro F1', 'ROC-AUC', 'log loss', 'model size', `study (n=${PUBLISHED_STUDY.n})`];

function mixedSetsWarning(lb: Leaderboard): string {
  return `these runs were evaluated on ${lb.testSets.length} different test sets (${lb.testSets.map((t) => `${t.root}: ${t.n} images`).join('; ')}), so ranks across them do not compare like with like.`;
}

/**
 * Runs that were not evaluated, one row per distinct (status, reason): the study's offline rows all
 * share one long message, which is shown once with the runs it applies to.
 */
export function problemRows(lb: Leaderboard): string[][] {
  const groups = new Map<string, { status: string; reason: string; runs: string[] }>();
  for (const e of lb.entries) {
    if (e.status === 'ok') continue;
    const reason = e.reason ?? '';
    const key = `${e.status}\u0000${reason}`;
    const g = groups.get(key) ?? { status: e.status, reason, runs: [] };
    g.runs.push(e.runId);
    groups.set(key, g);
  }
  return [...groups.values()].map((g) => [g.status, g.runs.join(', '), g.reason]);
}

const PROBLEM_HEAD = ['status', 'runs', 'reason'];

function perClassRows(ev: Evaluation): string[][] {
  return ev.perClass.map((c) => [c.label, String(c.support), num(c.precision), num(c.recall), num(c.f1), num(c.rocAuc)]);
}

function mdTable(head: string[], rows: string[][]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  return [`| ${head.map(esc).join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}

function renderMarkdown(title: string, lb: Leaderboard, sections: RunSection[], lbPic: Picture | undefined, notes: string[], warnings: string[]): string {
  const out: string[] = [`# ${title}`, '', `Created ${lb.createdAt}. Split: ${lb.split ?? '—'}.`, ...notes.map((n) => `- ${n}`), ''];
  out.push('## Leaderboard', '', `Ranking rule: ${lb.rule}.`, '');
  out.push(lb.entries.some((e) => e.status === 'ok') ? mdTable(LB_HEAD, leaderboardRows(lb)) : '_No run could be evaluated._', '');
  if (lb.testSets.length > 1) out.push(`**Warning:** ${mixedSetsWarning(lb)}`, '');
  out.push(`**Same test set as the original study?** ${lb.sameTestSetAsStudy.explanation}`, '');
  if (lbPic) out.push(`![leaderboard](${lbPic.rel})`, '');
  const problems = problemRows(lb);
  if (problems.length) out.push('## Runs not evaluated', '', mdTable(PROBLEM_HEAD, problems), '');
  for (const s of sections) {
    const ev = s.run.evaluation!;
    out.push(`## ${s.entry.rank}. ${ev.arch} ${ev.mode} — \`${s.run.runId}\``, '');
    out.push(
      `Accuracy ${pct(ev.accuracy)} (${ev.correct}/${ev.n}, Wilson 95% ${ci(ev)}), balanced accuracy ${pct(ev.balancedAccuracy)}, ` +
        `macro precision/recall/F1 ${num(ev.macro.precision)}/${num(ev.macro.recall)}/${num(ev.macro.f1)}, ROC-AUC ${num(ev.rocAuc)}, log loss ${num(ev.logLoss)}. ` +
        `Input ${ev.imgSize}×${ev.imgSize} (${ev.fit}, ${ev.preprocess}); evaluated on ${ev.data.root} with ${ev.backend}.`,
      '',
    );
    if (ev.data.changed?.length) out.push(`**Warning:** the dataset changed since training (${ev.data.changed.join('; ')}): this is not the run's own test split any more, and promotion and the gate leave it out.`, '');
    out.push(mdTable(['class', 'support', 'precision', 'recall', 'F1', 'ROC-AUC (1-vs-rest)'], perClassRows(ev)), '');
    for (const p of [s.confusion, s.roc, s.curves]) if (p) out.push(`![](${p.rel})`, '');
    if (!s.curves) out.push('_No learning curves: the run has no history.json._', '');
    out.push('### Unknown photos and calibration', '', oodSummary(ev), '', calibrationSummary(ev), '');
    for (const p of [s.reliability, s.scores]) if (p) out.push(`![](${p.rel})`, '');
    out.push('### Robustness', '', robustnessSummaryText(ev), '');
    if (ev.robustness?.length) out.push(robustnessMdTable(ev), '');
    if (scaleNote(ev)) out.push(scaleNote(ev), '');
    if (s.robustness) out.push(`![](${s.robustness.rel})`, '');
    const wrong = ev.predictions.filter((p) => !p.correct).length;
    out.push(`### Misclassified (${wrong})`, '');
    if (ev.gradcam) out.push(`Pictures: ${ev.gradcam.method ?? 'grad-cam'} overlays at layer \`${ev.gradcam.layer}\` where available. ${GRADCAM_CAVEAT} ${explanationFocusText(ev.gradcam)}`, '');
    for (const g of s.gallery) {
      const cam = s.gradcam.find((c) => c.file === g.file && c.picture);
      const pic = cam?.picture ?? g.picture;
      out.push(`- ${pic ? `![](${pic.rel}) ` : ''}\`${path.basename(g.file)}\`: true **${g.true}**, predicted **${g.predicted}** (p=${num(g.probability)})${cam && cam.hasEvidence === false ? ' — no positive evidence (map all zero)' : ''}${g.error ? ` — ${g.error}` : ''}`);
    }
    if (wrong > s.gallery.length) out.push(`- … and ${wrong - s.gallery.length} more`);
    out.push('');
    const correct = s.gradcam.filter((c) => c.correct);
    if (correct.length) {
      out.push(`### Grad-CAM, one correct photo per class (layer \`${ev.gradcam!.layer}\`)`, '');
      for (const c of correct) out.push(`- ${c.picture ? `![](${c.picture.rel}) ` : ''}\`${path.basename(c.file)}\`: **${c.true}** (p=${num(c.probability)})${c.hasEvidence === false ? ' — no positive evidence (map all zero)' : ''}`);
      out.push('');
    }
  }
  if (warnings.length) out.push('## Warnings', '', ...warnings.map((w) => `- ${w}`), '');
  return out.join('\n');
}


// ---------- OOD, calibration, robustness, Grad-CAM text ----------

const GRADCAM_CAVEAT =
  'Evidence for the predicted class (the contribution of each place to the class score beyond the photo\'s typical, paper, place, unless named otherwise): warm colours are where the photo adds more to that class than its empty paper does. For a class that means "small" or "not the other class" the evidence can lie on the paper around the part or at the photo\'s edges: that is what the model used, not a failure of the map.';

function interval(iv: { low: number; high: number } | undefined): string {
  return iv ? `95% ${pct(iv.low)}–${pct(iv.high)}` : '';
}

/** One paragraph on the OOD detector's figures. */
export function oodSummary(ev: Evaluation): string {
  const o = ev.ood;
  if (!o) return 'OOD detector: not evaluated (evaluation.json written before OOD evaluation existed).';
  if (o.status === 'no scorer') return `No scorer: ${o.reason ?? 'no model/ood.json'}. Every photo gets one of the known classes.`;
  if (o.status === 'error') return `OOD evaluation failed: ${o.reason}`;
  const k = o.known!;
  const f = o.far!;
  const kinds = Object.entries(f.byKind)
    .map(([kind, c]) => `${kind} ${c.rejected}/${c.n}`)
    .join(', ');
  const sil = o.parts?.silhouette;
  const feature = o.parts?.feature;
  const detector = sil
    ? `OOD detector ${o.method}: feature threshold ${num(o.threshold, 4)} and silhouette threshold ${num(sil.threshold, 4)}, each set for ${pct(sil.acceptRate)} of known photos accepted (the feature threshold on the validation photos, the silhouette threshold on leave-group-out training and validation shapes) and together ${pct(o.acceptRate)}; a photo is unknown when either part rejects it. `
    : `OOD detector ${o.method}, threshold ${num(o.threshold, 4)} (set on the validation photos for ${pct(o.acceptRate)} of known photos accepted). `;
  const parts =
    sil && feature
      ? ` On their own the feature part rejects ${feature.knownRejected}/${k.n} known and ${feature.farRejected}/${f.n} far-OOD images, the silhouette part ${sil.knownRejected}/${k.n} known (${sil.knownNoObject} without an object) and ${sil.farRejected}/${f.n} far-OOD (${sil.farNoObject} without an object).`
      : '';
  return (
    detector +
    `Known ${ev.split} photos accepted: ${k.accepted}/${k.n} = ${pct(k.coverage)} (${interval(k.coverageInterval)}); accuracy on the accepted photos ${pct(k.acceptedAccuracy)} (${k.acceptedCorrect}/${k.accepted}). ` +
    `Far-OOD images rejected: ${f.rejected}/${f.n} = ${pct(f.rejectionRate)} (${interval(f.rejectionInterval)}; ${kinds}; seed ${f.seed}). ` +
    `AUROC known vs far-OOD ${num(o.aurocKnownVsFar)}${o.aurocScore === 'feature' ? ` (on the ${feature ? `${feature.method} ` : ''}feature score, as in the histogram)` : ''}.` +
    parts
  );
}

export function calibrationSummary(ev: Evaluation): string {
  const c = ev.calibration;
  if (!c) return ev.calibration === null ? 'Calibration: not computed.' : '';
  return c.temperature == null
    ? `Calibration on ${c.n} ${ev.split} photos: ECE ${num(c.eceBefore)} (no temperature: the run has no ood.json).`
    : `Calibration on ${c.n} ${ev.split} photos: ECE ${num(c.eceBefore)} before, ${num(c.eceAfter)} after temperature scaling (T = ${num(c.temperature)}, fitted on the validation photos).`;
}

/** Whether the class names say that size is the label (parts: big/small; bolts-nuts: M5…M12). */
function sizeIsLabel(labels: string[]): boolean {
  return labels.some((l) => /^(big|small)$/i.test(l) || /^M\d+/i.test(l));
}

export function robustnessSummaryText(ev: Evaluation): string {
  const r = ev.robustnessSummary;
  if (r === undefined) return 'Robustness: not evaluated (evaluation.json written before robustness was part of it).';
  if (!r) return 'Robustness: off.';
  const graded = (ev.robustness ?? []).filter((x) => x.level > 0 && !x.grid);
  const levels = [...new Set(graded.map((x) => x.level))].sort();
  const shifts = new Set(graded.map((x) => x.shift)).size;
  const light = (ev.robustness ?? []).filter((x) => x.grid === 'line-light').length;
  const turns = (ev.robustness ?? []).filter((x) => x.grid === 'turns').length;
  return (
    `Robustness (${r.preset}): ${shifts} shifts × level${levels.length > 1 ? 's' : ''} ${levels.join(', ')}${light ? ` and ${light} line-light shifts` : ''}${turns ? ` and ${turns} quarter turns of the photo` : ''} on ${r.photos} of ${r.of} ${ev.split} photos` +
    `${r.photos < r.of ? ' (stratified by class, seeded)' : ''}, ${r.forwardPasses} forward passes in ${r.seconds.toFixed(1)} s; n = ${r.photos} per cell.`
  );
}

function scaleNote(ev: Evaluation): string {
  return sizeIsLabel(ev.confusion.labels)
    ? 'scale: a zoom-in makes the part look bigger, and on this task size is the label (big/small, M5…M12): a drop under scale is the model reading size, as it should.'
    : '';
}

function robustnessMdTable(ev: Evaluation): string {
  const rows = (ev.robustness ?? []).filter((r) => r.level > 0 && !r.grid);
  const extraTables = EXTRA_GRIDS.map((g) => {
    const xs = (ev.robustness ?? []).filter((r) => r.grid === g.grid);
    if (!xs.length) return '';
    const accepts = xs.some((r) => r.accepted !== undefined);
    // A blank line first: a line right after a table's last row would read as one more row.
    return [
      '',
      '',
      `${g.caption}:`,
      '',
      mdTable(
        ['shift', 'accuracy', ...(accepts ? ['accepted as known', 'accepted but wrong'] : [])],
        xs.map((r) => [
          `${r.shift} ${r.param}`,
          `${pct(r.accuracy)} (${r.correct}/${r.n}; ${pct(r.interval.low)}–${pct(r.interval.high)})`,
          ...(accepts ? [r.accepted === undefined ? '—' : `${pct(r.acceptance!)} (${r.accepted}/${r.n}; ${pct(r.acceptanceInterval!.low)}–${pct(r.acceptanceInterval!.high)})`, String(r.acceptedWrong ?? '—')] : []),
        ]),
      ),
    ].join('\n');
  }).join('');
  const levels = [...new Set(rows.map((r) => r.level))].sort();
  const shifts = [...new Set(rows.map((r) => r.shift))];
  const base = ev.robustness?.find((r) => r.level === 0);
  const cell = (shift: string, l: number) => {
    const r = rows.find((x) => x.shift === shift && x.level === l);
    return r ? `${pct(r.accuracy)} (${r.correct}/${r.n}; ${r.param})${r.accepted !== undefined ? `, accepted ${r.accepted}/${r.n}` : ''}` : '—';
  };
  return [
    base ? `Baseline ${pct(base.accuracy)} (${base.correct}/${base.n})${base.accepted !== undefined ? `, accepted as known ${base.accepted}/${base.n}` : ''}.` : '',
    '',
    mdTable(['shift', ...levels.map((l) => `level ${l}`)], shifts.map((sh) => [sh + (sh === 'scale' && sizeIsLabel(ev.confusion.labels) ? ' (size is the label)' : ''), ...levels.map((l) => cell(sh, l))])),
  ].join('\n') + extraTables;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function htmlTable(head: string[], rows: string[][], cls = ''): string {
  return `<table class="${cls}"><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

function img(p: Picture | undefined, alt: string): string {
  return p ? `<img alt="${escapeHtml(alt)}" src="data:${p.mime};base64,${p.bytes.toString('base64')}">` : '';
}

const CSS = `body{font-family:system-ui,-apple-system,"DejaVu Sans",sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;font-size:.9rem}
th{background:#f3f3f3}img{max-width:100%}.charts{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}
.gallery{display:flex;flex-wrap:wrap;gap:.8rem}.gallery figure{margin:0;width:170px;font-size:.8rem}
.gallery figcaption{word-break:break-all}.bad td:first-child{color:#a00;font-weight:bold}.note{background:#fff8e0;padding:.6rem;border-left:4px solid #e0b000}
section{border-top:1px solid #ddd;margin-top:2rem}table.robustness td.drop{background:#fde2e2}table.robustness caption{text-align:left;font-size:.85rem}`;

function renderHtml(title: string, lb: Leaderboard, sections: RunSection[], lbPic: Picture | undefined, notes: string[], warnings: string[]): string {
  const h = escapeHtml;
  const parts: string[] = [
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${h(title)}</title><style>${CSS}</style></head><body>`,
    `<h1>${h(title)}</h1><p>Created ${h(lb.createdAt)}. Split: ${h(lb.split ?? '—')}.</p>`,
  ];
  if (notes.length) parts.push(`<ul>${notes.map((n) => `<li>${h(n)}</li>`).join('')}</ul>`);
  parts.push(`<h2>Leaderboard</h2><p>Ranking rule: ${h(lb.rule)}.</p>`);
  parts.push(lb.entries.some((e) => e.status === 'ok') ? htmlTable(LB_HEAD, leaderboardRows(lb), 'leaderboard') : '<p><em>No run could be evaluated.</em></p>');
  if (lb.testSets.length > 1) parts.push(`<p class="note"><strong>Warning:</strong> ${h(mixedSetsWarning(lb))}</p>`);
  parts.push(`<p class="note"><strong>Same test set as the original study?</strong> ${h(lb.sameTestSetAsStudy.explanation)}</p>`);
  parts.push(img(lbPic, 'leaderboard chart'));
  const problems = problemRows(lb);
  if (problems.length) parts.push(`<h2>Runs not evaluated</h2>${htmlTable(PROBLEM_HEAD, problems, 'bad')}`);
  for (const s of sections) {
    const ev = s.run.evaluation!;
    parts.push(`<section id="${h(safeName(s.run.runId))}"><h2>${s.entry.rank}. ${h(ev.arch)} ${h(ev.mode)} — <code>${h(s.run.runId)}</code></h2>`);
    parts.push(
      `<p>Accuracy <strong>${pct(ev.accuracy)}</strong> (${ev.correct}/${ev.n}, Wilson 95% ${ci(ev)}), balanced accuracy ${pct(ev.balancedAccuracy)}, ` +
        `macro precision/recall/F1 ${num(ev.macro.precision)}/${num(ev.macro.recall)}/${num(ev.macro.f1)}, ROC-AUC ${num(ev.rocAuc)}, log loss ${num(ev.logLoss)}. ` +
        `Input ${ev.imgSize}×${ev.imgSize} (${h(ev.fit)}, ${h(ev.preprocess)}); evaluated on <code>${h(ev.data.root)}</code> with ${h(ev.backend)}.</p>`,
    );
    if (ev.data.changed?.length) parts.push(`<p class="warning"><strong>Warning:</strong> the dataset changed since training (${h(ev.data.changed.join('; '))}): this is not the run's own test split any more, and promotion and the gate leave it out.</p>`);
    parts.push(htmlTable(['class', 'support', 'precision', 'recall', 'F1', 'ROC-AUC (1-vs-rest)'], perClassRows(ev)));
    parts.push(`<div class="charts">${img(s.confusion, 'confusion matrix')}${img(s.roc, 'ROC curve')}</div>`);
    parts.push(s.curves ? img(s.curves, 'learning curves') : '<p><em>No learning curves: the run has no history.json.</em></p>');
    parts.push(`<h3>Unknown photos and calibration</h3><p class="ood">${h(oodSummary(ev))}</p><p class="calibration">${h(calibrationSummary(ev))}</p>`);
    parts.push(`<div class="charts">${img(s.reliability, 'reliability diagram')}${img(s.scores, 'OOD score histogram')}</div>`);
    parts.push(`<h3>Robustness</h3><p>${h(robustnessSummaryText(ev))}</p>`);
    if (ev.robustness?.length && ev.robustnessSummary) parts.push(robustnessTableHtml({ robustness: ev.robustness, units: ev.robustnessSummary.units }));
    if (scaleNote(ev)) parts.push(`<p class="note">${h(scaleNote(ev))}</p>`);
    parts.push(img(s.robustness, 'accuracy under shifts'));
    const wrong = ev.predictions.filter((p) => !p.correct).length;
    parts.push(`<h3>Misclassified (${wrong})</h3>`);
    if (ev.gradcam) parts.push(`<p class="gradcam-note">Pictures: ${h(ev.gradcam.method ?? 'grad-cam')} overlays at layer <code>${h(ev.gradcam.layer)}</code> where available. ${h(GRADCAM_CAVEAT)} ${h(explanationFocusText(ev.gradcam))}</p>`);
    parts.push('<div class="gallery">');
    for (const g of s.gallery) {
      const cam = s.gradcam.find((c) => c.file === g.file && c.picture);
      parts.push(
        `<figure>${img(cam?.picture ?? g.picture, path.basename(g.file))}<figcaption><code>${h(path.basename(g.file))}</code><br>true <b>${h(g.true)}</b>, predicted <b>${h(g.predicted)}</b> (p=${num(g.probability)})${cam ? `<br>Grad-CAM of ${h(g.predicted)}${cam.hasEvidence === false ? ': no positive evidence' : ''}` : ''}${g.error ? `<br>${h(g.error)}` : ''}</figcaption></figure>`,
      );
    }
    parts.push('</div>');
    const correct = s.gradcam.filter((c) => c.correct);
    if (correct.length) {
      parts.push(`<h3>Grad-CAM, one correct photo per class (layer <code>${h(ev.gradcam!.layer)}</code>)</h3><div class="gallery gradcam">`);
      for (const c of correct) {
        parts.push(
          `<figure>${img(c.picture, path.basename(c.file))}<figcaption><code>${h(path.basename(c.file))}</code><br><b>${h(c.true)}</b> (p=${num(c.probability)})${c.hasEvidence === false ? '<br>no positive evidence (map all zero)' : ''}</figcaption></figure>`,
        );
      }
      parts.push('</div>');
    }
    if (wrong > s.gallery.length) parts.push(`<p>… and ${wrong - s.gallery.length} more.</p>`);
    parts.push('</section>');
  }
  if (warnings.length) parts.push(`<h2>Warnings</h2><ul>${warnings.map((w) => `<li>${h(w)}</li>`).join('')}</ul>`);
  parts.push('</body></html>\n');
  return parts.join('\n');
}
