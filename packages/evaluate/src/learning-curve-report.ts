// The learning curve as a chart (test accuracy with Wilson 95% bars against photos per class on a
// log axis, the fitted power law, the projected point) and as a report section (Markdown and HTML),
// written as a folder of its own: learning-curve.png, learning-curve.md, learning-curve.json.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ChartConfiguration } from 'chart.js';
import { PALETTE, renderChart } from './charts';
import { siblingTemp } from './fsutil';
import { projectAccuracy, type LearningCurveResult } from './learning-curve';

/** PNG of the curve; needs at least one point. */
export function photosCurvePng(r: LearningCurveResult, opts: { title?: string; width?: number; height?: number } = {}): Buffer {
  if (r.points.length === 0) throw new Error('learning-curve chart: no points');
  const xs = r.points.map((p) => p.n);
  const xMax = r.projection?.n ?? Math.max(...xs);
  const xMin = Math.min(...xs);
  const datasets: Record<string, unknown>[] = [
    {
      label: `test accuracy (n=${r.testPhotos}, Wilson 95%)`,
      data: r.points.map((p) => ({ x: p.n, y: p.accuracy })),
      errorBars: r.points.map((p) => p.interval),
      backgroundColor: PALETTE[0],
      borderColor: PALETTE[0],
      pointRadius: 5,
    },
  ];
  if (r.fit) {
    const fit = r.fit;
    const steps = 80;
    const curve = Array.from({ length: steps + 1 }, (_, i) => {
      const x = xMin * (xMax / xMin) ** (i / steps);
      return { x, y: projectAccuracy(fit, x) };
    });
    datasets.push({
      label: `fit: ${fit.a.toFixed(3)} − ${fit.b.toFixed(3)}·n^(−${fit.c.toFixed(2)})`,
      data: curve,
      showLine: true,
      pointRadius: 0,
      borderColor: PALETTE[1],
      backgroundColor: PALETTE[1],
      borderDash: [6, 4],
    });
  }
  if (r.projection) {
    datasets.push({
      label: `projected at ${Math.round(r.projection.n)} per class: ${(100 * r.projection.accuracy).toFixed(1)}%`,
      data: [{ x: r.projection.n, y: r.projection.accuracy }],
      pointStyle: 'triangle',
      pointRadius: 8,
      borderColor: PALETTE[3],
      backgroundColor: PALETTE[3],
    });
  }
  const lowest = Math.min(...r.points.map((p) => p.interval.low));
  const config: ChartConfiguration = {
    type: 'scatter',
    data: { datasets: datasets as never },
    options: {
      plugins: {
        title: { display: true, text: opts.title ?? 'Test accuracy against training photos per class', font: { size: 16, weight: 'bold' } },
        legend: { position: 'bottom' },
      },
      scales: {
        x: { type: 'logarithmic', min: Math.max(1, xMin * 0.8), max: xMax * 1.2, title: { display: true, text: 'training photos per class (log scale)' } },
        y: { min: Math.max(0, Math.floor(lowest * 10) / 10), max: 1, title: { display: true, text: 'test accuracy' } },
      },
    },
  };
  return renderChart(config, opts.width ?? 800, opts.height ?? 480).toBuffer('image/png');
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** The section's rows: photos per class, photos, accuracy (correct/total), Wilson 95%, training time. */
export function curveRows(r: LearningCurveResult): string[][] {
  return r.points.map((p) => [
    p.requested === null ? `all (${p.perClass.join('/')})` : p.perClass.every((k) => k === p.requested) ? String(p.requested) : `${p.requested} (${p.perClass.join('/')})`,
    String(p.trainPhotos),
    `${pct(p.accuracy)} (${p.correct}/${p.total})`,
    `${pct(p.interval.low)}–${pct(p.interval.high)}`,
    `${p.trainSeconds.toFixed(0)} s`,
  ]);
}

const HEAD = ['photos per class', 'training photos', 'test accuracy', 'Wilson 95%', 'training time'];

function fitSentence(r: LearningCurveResult): string {
  if (!r.fit || !r.projection) return 'No curve fitted: it needs at least 3 different subset sizes.';
  const f = r.fit;
  return (
    `Fitted acc(n) = ${f.a.toFixed(3)} − ${f.b.toFixed(3)}·n^(−${f.c.toFixed(3)}) (n = photos per class; RMS residual ${pct(f.rmse)}); ` +
    `projected test accuracy at ${Math.round(r.projection.n)} photos per class (twice the largest point): ${pct(r.projection.accuracy)}. ` +
    `A projection beyond the measured sizes is an extrapolation: read it together with the Wilson intervals of the measured points. Method: ${f.method}.`
  );
}

/** Markdown section; `picture` is the chart's path relative to the Markdown file. */
export function learningCurveMarkdown(r: LearningCurveResult, picture?: string): string {
  const lines = [
    '## Learning curve: test accuracy against photos per class',
    '',
    `Dataset ${r.data}; classes ${r.classes.join(', ')}; every model scored on the same ${r.testPhotos} test photos. ` +
      `Subsets are stratified, nested (each holds the smaller ones) and drawn with seed ${r.seed}; total time ${r.totalSeconds.toFixed(0)} s.`,
    '',
    `| ${HEAD.join(' | ')} |`,
    `| ${HEAD.map(() => '---').join(' | ')} |`,
    ...curveRows(r).map((row) => `| ${row.join(' | ')} |`),
    '',
    fitSentence(r),
  ];
  if (picture) lines.push('', `![learning curve](${picture})`);
  return lines.join('\n') + '\n';
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** HTML section; the chart inlined as a data URI when given. */
export function learningCurveHtml(r: LearningCurveResult, png?: Buffer): string {
  return [
    '<section id="learning-curve">',
    '<h2>Learning curve: test accuracy against photos per class</h2>',
    `<p>Dataset ${esc(r.data)}; classes ${esc(r.classes.join(', '))}; every model scored on the same ${r.testPhotos} test photos. Subsets are stratified, nested and drawn with seed ${r.seed}; total time ${r.totalSeconds.toFixed(0)} s.</p>`,
    `<table><thead><tr>${HEAD.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>`,
    ...curveRows(r).map((row) => `<tr>${row.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`),
    '</tbody></table>',
    `<p>${esc(fitSentence(r))}</p>`,
    png ? `<img alt="learning curve" src="data:image/png;base64,${png.toString('base64')}">` : '',
    '</section>',
  ].join('\n');
}

/**
 * Writes <outRoot>/learning-curve-<timestamp>/ (index.html, report.md, learning-curve.png,
 * learning-curve.json), built in a temp folder and renamed into place. Returns the folder.
 */
export async function writeLearningCurveReport(r: LearningCurveResult, outRoot: string, date = new Date()): Promise<string> {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}-${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}`;
  await fs.mkdir(outRoot, { recursive: true });
  let dir = path.join(outRoot, `learning-curve-${stamp}`);
  for (let i = 2; await fs.access(dir).then(() => true, () => false); i++) dir = path.join(outRoot, `learning-curve-${stamp}-${i}`);
  const tmp = siblingTemp(dir);
  await fs.mkdir(tmp, { recursive: true });
  try {
    const png = photosCurvePng(r);
    await fs.writeFile(path.join(tmp, 'learning-curve.png'), png);
    await fs.writeFile(path.join(tmp, 'learning-curve.json'), JSON.stringify(r, null, 2) + '\n');
    await fs.writeFile(path.join(tmp, 'report.md'), `# Learning curve\n\n${learningCurveMarkdown(r, 'learning-curve.png')}`);
    await fs.writeFile(
      path.join(tmp, 'index.html'),
      `<!doctype html>\n<html><head><meta charset="utf-8"><title>Learning curve</title></head><body>\n${learningCurveHtml(r, png)}\n</body></html>\n`,
    );
    await fs.rename(tmp, dir);
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return dir;
}
