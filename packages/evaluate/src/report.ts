// The report folder reports/<timestamp>/: index.html (self-contained: every picture is inlined as a
// data URI so the file opens from disk or as a mail attachment), report.md (pictures as files beside
// it), leaderboard.json. Built in a temp folder and renamed, so a report folder is always complete.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { confusionMatrixPng, learningCurvesPng, leaderboardPng, rocCurvePng } from './charts';
import type { LeaderboardBar } from './charts';
import { misclassifiedGallery } from './gallery';
import type { GalleryItem, GalleryOptions } from './gallery';
import { buildLeaderboard, publishedResult } from './leaderboard';
import type { Leaderboard, LeaderboardEntry, ReportRun } from './leaderboard';
import { exists, siblingTemp } from './fsutil';
import type { Evaluation } from './evaluation-record';

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
        bytes: leaderboardPng(barsFor.map(toBar), { ourN: ns.length === 1 ? ns[0] : undefined, publishedN: 21 }),
      }))
    : undefined;

  const sections: RunSection[] = [];
  for (const entry of leaderboard.entries.filter((e) => e.status === 'ok')) {
    const run = runs.find((r) => r.runId === entry.runId && r.evaluation)!;
    const ev = run.evaluation!;
    const slug = safeName(run.runId);
    const title = `${ev.arch} ${ev.mode}`;
    const section: RunSection = { run, entry, gallery: [] };
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
    sections.push(section);
  }

  const finalDir = await freeReportDir(opts.outRoot, date);
  const tmp = siblingTemp(finalDir);
  await fs.mkdir(tmp, { recursive: true });
  try {
    const pictures = [leaderboardPicture, ...sections.flatMap((s) => [s.confusion, s.roc, s.curves, ...s.gallery.map((g) => g.picture)])].filter(
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

const LB_HEAD = ['#', 'run', 'arch', 'mode', 'accuracy', 'Wilson 95%', 'balanced acc.', 'macro F1', 'ROC-AUC', 'log loss', 'model size', 'study (n=21)'];

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
    out.push(mdTable(['class', 'support', 'precision', 'recall', 'F1', 'ROC-AUC (1-vs-rest)'], perClassRows(ev)), '');
    for (const p of [s.confusion, s.roc, s.curves]) if (p) out.push(`![](${p.rel})`, '');
    if (!s.curves) out.push('_No learning curves: the run has no history.json._', '');
    const wrong = ev.predictions.filter((p) => !p.correct).length;
    out.push(`### Misclassified (${wrong})`, '');
    for (const g of s.gallery) {
      out.push(`- ${g.picture ? `![](${g.picture.rel}) ` : ''}\`${path.basename(g.file)}\`: true **${g.true}**, predicted **${g.predicted}** (p=${num(g.probability)})${g.error ? ` — ${g.error}` : ''}`);
    }
    if (wrong > s.gallery.length) out.push(`- … and ${wrong - s.gallery.length} more`);
    out.push('');
  }
  if (warnings.length) out.push('## Warnings', '', ...warnings.map((w) => `- ${w}`), '');
  return out.join('\n');
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
section{border-top:1px solid #ddd;margin-top:2rem}`;

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
    parts.push(htmlTable(['class', 'support', 'precision', 'recall', 'F1', 'ROC-AUC (1-vs-rest)'], perClassRows(ev)));
    parts.push(`<div class="charts">${img(s.confusion, 'confusion matrix')}${img(s.roc, 'ROC curve')}</div>`);
    parts.push(s.curves ? img(s.curves, 'learning curves') : '<p><em>No learning curves: the run has no history.json.</em></p>');
    const wrong = ev.predictions.filter((p) => !p.correct).length;
    parts.push(`<h3>Misclassified (${wrong})</h3><div class="gallery">`);
    for (const g of s.gallery) {
      parts.push(
        `<figure>${img(g.picture, path.basename(g.file))}<figcaption><code>${h(path.basename(g.file))}</code><br>true <b>${h(g.true)}</b>, predicted <b>${h(g.predicted)}</b> (p=${num(g.probability)})${g.error ? `<br>${h(g.error)}` : ''}</figcaption></figure>`,
      );
    }
    parts.push('</div>');
    if (wrong > s.gallery.length) parts.push(`<p>… and ${wrong - s.gallery.length} more.</p>`);
    parts.push('</section>');
  }
  if (warnings.length) parts.push(`<h2>Warnings</h2><ul>${warnings.map((w) => `<li>${h(w)}</li>`).join('')}</ul>`);
  parts.push('</body></html>\n');
  return parts.join('\n');
}
