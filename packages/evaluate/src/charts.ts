// PNG charts rendered in Node: chart.js on an @napi-rs/canvas canvas (no browser, no DOM), and
// the confusion-matrix heatmap drawn directly on the canvas (a grid of coloured cells needs no
// chart library). Every function returns PNG bytes.
import { createCanvas } from '@napi-rs/canvas';
import type { Canvas, SKRSContext2D } from '@napi-rs/canvas';
import { Chart, registerables } from 'chart.js';
import type { ChartConfiguration, Plugin } from 'chart.js';
import { font, fontFamilyList } from './fonts';
import type { Interval, RocPoint } from './metrics';
import type { HistoryEpoch } from '@parts/train';

Chart.register(...registerables);

export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** Chart.js leaves the background transparent; reports want white. */
const whiteBackground: Plugin = {
  id: 'whiteBackground',
  beforeDraw(chart) {
    const ctx = chart.ctx;
    ctx.save();
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, chart.width, chart.height);
    ctx.restore();
  },
};

/**
 * Error bars for datasets that carry `errorBars: (Interval | null)[]`, drawn along the value axis: horizontal
 * on horizontal bar charts (`indexAxis: 'y'`), vertical on every other chart (scatter points, columns).
 */
const errorBarsPlugin: Plugin = {
  id: 'errorBars',
  afterDatasetsDraw(chart) {
    const ctx = chart.ctx;
    const horizontal = (chart.options as { indexAxis?: string }).indexAxis === 'y';
    const valueScale = horizontal ? chart.scales.x : chart.scales.y;
    chart.data.datasets.forEach((ds, i) => {
      const bars = (ds as { errorBars?: (Interval | null)[] }).errorBars;
      const meta = chart.getDatasetMeta(i);
      if (!bars || meta.hidden) return;
      meta.data.forEach((el, j) => {
        const iv = bars[j];
        if (!iv) return;
        const props = el.getProps(['x', 'y', 'height'], true) as { x: number; y: number; height?: number };
        const lo = valueScale.getPixelForValue(iv.low);
        const hi = valueScale.getPixelForValue(iv.high);
        const cap = horizontal ? Math.min(8, (props.height ?? 24) / 3) : 5;
        // Draw in (along, across) coordinates and map them to the canvas for the orientation.
        const at = horizontal ? (along: number, across: number) => [along, across] as const : (along: number, across: number) => [across, along] as const;
        const mid = horizontal ? props.y : props.x;
        ctx.save();
        ctx.strokeStyle = '#222';
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        ctx.moveTo(...at(lo, mid));
        ctx.lineTo(...at(hi, mid));
        for (const end of [lo, hi]) {
          ctx.moveTo(...at(end, mid - cap));
          ctx.lineTo(...at(end, mid + cap));
        }
        ctx.stroke();
        ctx.restore();
      });
    });
  },
};

/** Draws a chart.js configuration on a white canvas of the given size (fonts, no animation, error bars). */
export function renderChart(config: ChartConfiguration, width: number, height: number): Canvas {
  Chart.defaults.font.family = fontFamilyList();
  Chart.defaults.color = '#222';
  const canvas = createCanvas(width, height);
  const chart = new Chart(canvas as unknown as HTMLCanvasElement, {
    ...config,
    options: { ...config.options, responsive: false, animation: false, devicePixelRatio: 1 },
    plugins: [whiteBackground, errorBarsPlugin, ...(config.plugins ?? [])],
  } as ChartConfiguration);
  chart.draw();
  // destroy() clears the canvas, so keep a copy of the pixels first.
  const copy = createCanvas(width, height);
  copy.getContext('2d').drawImage(canvas, 0, 0);
  chart.destroy();
  return copy;
}

function title(text: string) {
  return { display: true, text, font: { size: 16, weight: 'bold' as const } };
}

export interface LearningCurveOptions {
  title?: string;
  width?: number;
  height?: number;
  /** Epoch whose weights were kept (marked on both panels). */
  bestEpoch?: number;
}

/** Loss (left) and accuracy (right), train and validation, per epoch. */
export function learningCurvesPng(epochs: HistoryEpoch[], opts: LearningCurveOptions = {}): Buffer {
  if (epochs.length === 0) throw new Error('learning curves: history has no epochs');
  const width = opts.width ?? 1000;
  const height = opts.height ?? 400;
  const labels = epochs.map((e) => String(e.epoch));
  const panel = (metric: 'loss' | 'accuracy') => {
    const train = epochs.map((e) => (metric === 'loss' ? e.loss : e.acc));
    const val = epochs.map((e) => (metric === 'loss' ? e.valLoss : e.valAcc) ?? null);
    const datasets = [
      { label: `train ${metric}`, data: train, borderColor: PALETTE[0], backgroundColor: PALETTE[0], pointRadius: 2, tension: 0 },
    ];
    if (val.some((v) => v !== null)) {
      datasets.push({ label: `validation ${metric}`, data: val as number[], borderColor: PALETTE[1], backgroundColor: PALETTE[1], pointRadius: 2, tension: 0 });
    }
    const best = opts.bestEpoch;
    const marker: Plugin = {
      id: 'bestEpoch',
      afterDatasetsDraw(chart) {
        const idx = best === undefined ? -1 : epochs.findIndex((e) => e.epoch === best);
        if (idx < 0) return;
        const px = chart.scales.x.getPixelForValue(idx);
        const { top, bottom } = chart.chartArea;
        const ctx = chart.ctx;
        ctx.save();
        ctx.strokeStyle = '#888';
        ctx.setLineDash([4, 4]);
        ctx.beginPath();
        ctx.moveTo(px, top);
        ctx.lineTo(px, bottom);
        ctx.stroke();
        ctx.setLineDash([]);
        ctx.fillStyle = '#555';
        ctx.font = font(11);
        ctx.fillText('best', px + 3, top + 12);
        ctx.restore();
      },
    };
    return renderChart(
      {
        type: 'line',
        data: { labels, datasets },
        options: {
          plugins: { title: title(`${opts.title ? opts.title + ' — ' : ''}${metric}`), legend: { position: 'bottom' } },
          scales: {
            x: { title: { display: true, text: 'epoch' } },
            y: metric === 'accuracy' ? { min: 0, max: 1, title: { display: true, text: 'accuracy' } } : { beginAtZero: true, title: { display: true, text: 'loss' } },
          },
        },
        plugins: [marker],
      },
      width / 2,
      height,
    );
  };
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(panel('loss'), 0, 0);
  ctx.drawImage(panel('accuracy'), width / 2, 0);
  return canvas.toBuffer('image/png');
}

export interface RocCurveInput {
  label: string;
  points: RocPoint[];
  auc?: number | null;
}

/** ROC curves (one per class for one-vs-rest) with the chance diagonal. */
export function rocCurvePng(curves: RocCurveInput[], opts: { title?: string; width?: number; height?: number } = {}): Buffer {
  const datasets = curves.map((c, i) => ({
    label: `${c.label}${c.auc != null ? ` (AUC ${c.auc.toFixed(3)})` : ''}`,
    data: c.points.map((p) => ({ x: p.fpr, y: p.tpr })),
    showLine: true,
    borderColor: PALETTE[i % PALETTE.length],
    backgroundColor: PALETTE[i % PALETTE.length],
    pointRadius: 2,
    stepped: false as const,
  }));
  datasets.push({
    label: 'chance',
    data: [
      { x: 0, y: 0 },
      { x: 1, y: 1 },
    ],
    showLine: true,
    borderColor: '#aaaaaa',
    backgroundColor: '#aaaaaa',
    pointRadius: 0,
    stepped: false,
    borderDash: [6, 4],
  } as (typeof datasets)[number]);
  const canvas = renderChart(
    {
      type: 'scatter',
      data: { datasets },
      options: {
        plugins: { title: title(opts.title ?? 'ROC curve'), legend: { position: 'bottom' } },
        scales: {
          x: { type: 'linear', min: 0, max: 1, title: { display: true, text: 'false positive rate' } },
          y: { min: 0, max: 1, title: { display: true, text: 'true positive rate' } },
        },
      },
    },
    opts.width ?? 520,
    opts.height ?? 520,
  );
  return canvas.toBuffer('image/png');
}

export interface LeaderboardBar {
  label: string;
  /** Our accuracy with its interval; null when the run has no evaluation (skipped or bad). */
  accuracy: number | null;
  interval: Interval | null;
  /** The original study's published accuracy for the same architecture and mode. */
  published?: { accuracy: number; interval: Interval } | null;
}

/** Horizontal bars: our test accuracy (Wilson 95% error bars) beside the study's published one. */
export function leaderboardPng(bars: LeaderboardBar[], opts: { title?: string; width?: number; ourN?: number; publishedN?: number } = {}): Buffer {
  if (bars.length === 0) throw new Error('leaderboard chart: no runs');
  const height = Math.max(260, 110 + bars.length * 44);
  const datasets: Record<string, unknown>[] = [
    {
      label: `this project${opts.ourN ? ` (n=${opts.ourN})` : ''}`,
      data: bars.map((b) => b.accuracy),
      errorBars: bars.map((b) => b.interval),
      backgroundColor: PALETTE[0],
    },
  ];
  if (bars.some((b) => b.published)) {
    datasets.push({
      label: `original study${opts.publishedN ? ` (n=${opts.publishedN})` : ''}`,
      data: bars.map((b) => b.published?.accuracy ?? null),
      errorBars: bars.map((b) => b.published?.interval ?? null),
      backgroundColor: '#c7c7c7',
    });
  }
  const canvas = renderChart(
    {
      type: 'bar',
      data: { labels: bars.map((b) => b.label), datasets: datasets as never },
      options: {
        indexAxis: 'y',
        plugins: { title: title(opts.title ?? 'Test accuracy with Wilson 95% intervals'), legend: { position: 'bottom' } },
        scales: { x: { min: 0, max: 1, title: { display: true, text: 'test accuracy' } } },
      },
    },
    opts.width ?? 900,
    height,
  );
  return canvas.toBuffer('image/png');
}

/**
 * Confusion-matrix heatmap: cell colour = row-normalised share (recall view), text = count and
 * share. Rows are true classes, columns predicted classes.
 */
export function confusionMatrixPng(labels: string[], counts: number[][], opts: { title?: string } = {}): Buffer {
  const k = labels.length;
  if (counts.length !== k || counts.some((r) => r.length !== k)) throw new Error(`confusion matrix must be ${k}x${k} for labels ${labels.join(', ')}`);
  const cell = k <= 3 ? 120 : k <= 6 ? 80 : 64;
  const measure = createCanvas(10, 10).getContext('2d');
  measure.font = font(13);
  const longest = Math.max(...labels.map((l) => measure.measureText(l).width));
  const left = 50 + longest + 12;
  const top = 60;
  const rotate = longest > cell - 8; // column labels that would overlap are drawn diagonally
  const bottom = 40 + (rotate ? longest * 0.75 : 20);
  const width = Math.max(left + k * cell + 110, 360);
  const height = top + k * cell + bottom;
  const canvas = createCanvas(Math.ceil(width), Math.ceil(height));
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = '#222';
  ctx.font = font(16, 'bold');
  ctx.textAlign = 'left';
  ctx.textBaseline = 'top';
  ctx.fillText(opts.title ?? 'Confusion matrix', 12, 12);

  for (let t = 0; t < k; t++) {
    const rowSum = counts[t].reduce((a, b) => a + b, 0);
    for (let p = 0; p < k; p++) {
      const v = counts[t][p];
      const share = rowSum ? v / rowSum : 0;
      const x = left + p * cell;
      const y = top + t * cell;
      ctx.fillStyle = blues(share);
      ctx.fillRect(x, y, cell, cell);
      ctx.strokeStyle = '#fff';
      ctx.strokeRect(x, y, cell, cell);
      ctx.fillStyle = share > 0.55 ? '#fff' : '#111';
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.font = font(cell >= 100 ? 22 : 16, 'bold');
      ctx.fillText(String(v), x + cell / 2, y + cell / 2 - 9);
      ctx.font = font(cell >= 100 ? 14 : 11);
      ctx.fillText(`${(share * 100).toFixed(0)}%`, x + cell / 2, y + cell / 2 + 12);
    }
  }
  drawLabels(ctx, labels, { left, top, cell, rotate });
  drawColorBar(ctx, left + k * cell + 24, top, Math.min(k * cell, 240));
  return canvas.toBuffer('image/png');
}

function drawLabels(ctx: SKRSContext2D, labels: string[], g: { left: number; top: number; cell: number; rotate: boolean }): void {
  const k = labels.length;
  ctx.fillStyle = '#222';
  ctx.font = font(13);
  labels.forEach((l, i) => {
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    ctx.fillText(l, g.left - 8, g.top + i * g.cell + g.cell / 2);
    const cx = g.left + i * g.cell + g.cell / 2;
    const cy = g.top + k * g.cell + 8;
    if (g.rotate) {
      ctx.save();
      ctx.translate(cx, cy);
      ctx.rotate(-Math.PI / 4);
      ctx.textAlign = 'right';
      ctx.fillText(l, 0, 0);
      ctx.restore();
    } else {
      ctx.textAlign = 'center';
      ctx.textBaseline = 'top';
      ctx.fillText(l, cx, cy);
    }
  });
  ctx.font = font(14, 'bold');
  ctx.textAlign = 'center';
  ctx.textBaseline = 'bottom';
  ctx.fillText('predicted', g.left + (k * g.cell) / 2, g.top - 6);
  ctx.save();
  ctx.translate(16, g.top + (k * g.cell) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textBaseline = 'top';
  ctx.fillText('true', 0, 0);
  ctx.restore();
}

function drawColorBar(ctx: SKRSContext2D, x: number, y: number, h: number): void {
  const w = 14;
  for (let i = 0; i < h; i++) {
    ctx.fillStyle = blues(1 - i / (h - 1));
    ctx.fillRect(x, y + i, w, 1);
  }
  ctx.strokeStyle = '#666';
  ctx.strokeRect(x, y, w, h);
  ctx.fillStyle = '#222';
  ctx.font = font(11);
  ctx.textAlign = 'left';
  ctx.textBaseline = 'middle';
  ctx.fillText('100%', x + w + 4, y);
  ctx.fillText('0%', x + w + 4, y + h);
  ctx.fillText('of row', x + w + 4, y + h / 2);
}

/** White → dark blue ramp for a share in [0, 1]. */
function blues(share: number): string {
  const s = Math.max(0, Math.min(1, share));
  const from = [247, 251, 255];
  const to = [8, 48, 107];
  const c = from.map((f, i) => Math.round(f + (to[i] - f) * s));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** A reliability bin as evaluation.json stores it (confidence/accuracy null or NaN when empty). */
export interface ReliabilityBinInput {
  lo: number;
  hi: number;
  count: number;
  confidence: number | null;
  accuracy: number | null;
}

/**
 * Reliability diagram: accuracy against mean confidence per non-empty confidence bin, before and
 * (when given) after temperature scaling, with the diagonal of perfect calibration.
 */
export function reliabilityDiagramPng(
  before: ReliabilityBinInput[],
  after: ReliabilityBinInput[] | null,
  opts: { title?: string; width?: number; height?: number; eceBefore?: number; eceAfter?: number; temperature?: number | null } = {},
): Buffer {
  const points = (bins: ReliabilityBinInput[]) => bins.filter((b) => b.count > 0 && b.confidence != null && b.accuracy != null).map((b) => ({ x: b.confidence!, y: b.accuracy!, n: b.count }));
  const ece = (x: number | undefined) => (x === undefined ? '' : ` (ECE ${x.toFixed(3)})`);
  const datasets: Record<string, unknown>[] = [
    { label: `T = 1${ece(opts.eceBefore)}`, data: points(before), showLine: true, borderColor: PALETTE[3], backgroundColor: PALETTE[3], pointRadius: 4 },
  ];
  if (after) {
    datasets.push({
      label: `T = ${opts.temperature?.toFixed(3) ?? '?'}${ece(opts.eceAfter)}`,
      data: points(after),
      showLine: true,
      borderColor: PALETTE[0],
      backgroundColor: PALETTE[0],
      pointRadius: 4,
    });
  }
  datasets.push({ label: 'perfect calibration', data: [{ x: 0, y: 0 }, { x: 1, y: 1 }], showLine: true, borderColor: '#aaaaaa', backgroundColor: '#aaaaaa', pointRadius: 0, borderDash: [6, 4] });
  const canvas = renderChart(
    {
      type: 'scatter',
      data: { datasets } as unknown as ChartConfiguration['data'],
      options: {
        plugins: { title: title(opts.title ?? 'Reliability diagram'), legend: { position: 'bottom' } },
        scales: {
          x: { type: 'linear', min: 0, max: 1, title: { display: true, text: 'confidence (top-class probability)' } },
          y: { min: 0, max: 1, title: { display: true, text: 'accuracy' } },
        },
      },
    },
    opts.width ?? 520,
    opts.height ?? 480,
  );
  return canvas.toBuffer('image/png');
}

/** Counts of `values` in `bins` equal-width bins over [lo, hi] (the last bin includes hi). */
export function histogramCounts(values: readonly number[], lo: number, hi: number, bins: number): number[] {
  const out = new Array<number>(bins).fill(0);
  const w = (hi - lo) / bins || 1;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    out[Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / w)))]++;
  }
  return out;
}

/**
 * Histogram of OOD scores of known test photos and far-OOD images (higher = more in-distribution),
 * with the threshold as a vertical line: photos left of it are answered "unknown".
 */
export function scoreHistogramPng(
  known: readonly number[],
  far: readonly number[],
  threshold: number,
  opts: { title?: string; width?: number; height?: number; bins?: number; method?: string } = {},
): Buffer {
  const all = [...known, ...far, threshold].filter(Number.isFinite);
  if (!all.length) throw new Error('score histogram: no finite scores');
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (hi === lo) {
    lo -= 0.5;
    hi += 0.5;
  }
  const bins = opts.bins ?? 30;
  const w = (hi - lo) / bins;
  const labels = Array.from({ length: bins }, (_, i) => (lo + (i + 0.5) * w).toPrecision(3));
  const thresholdLine: Plugin = {
    id: 'thresholdLine',
    afterDatasetsDraw(chart) {
      const x = chart.scales.x;
      const area = chart.chartArea;
      // Category axis: bin i is centred at pixel(i); map the threshold linearly between bin centres.
      const pos = (threshold - lo) / w - 0.5;
      const px = x.getPixelForValue(0) + pos * (x.getPixelForValue(1) - x.getPixelForValue(0));
      const ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = '#111';
      ctx.lineWidth = 2;
      ctx.setLineDash([6, 4]);
      ctx.beginPath();
      ctx.moveTo(px, area.top);
      ctx.lineTo(px, area.bottom);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = '#111';
      ctx.font = `12px ${fontFamilyList()}`;
      ctx.fillText('threshold', px + 4, area.top + 14);
      ctx.restore();
    },
  };
  const canvas = renderChart(
    {
      type: 'bar',
      data: {
        labels,
        datasets: [
          { label: `known test photos (n=${known.length})`, data: histogramCounts(known, lo, hi, bins), backgroundColor: 'rgba(31,119,180,0.7)', grouped: false },
          { label: `far-OOD images (n=${far.length})`, data: histogramCounts(far, lo, hi, bins), backgroundColor: 'rgba(214,39,40,0.6)', grouped: false },
        ],
      },
      options: {
        plugins: { title: title(opts.title ?? 'OOD scores'), legend: { position: 'bottom' } },
        scales: {
          x: { title: { display: true, text: `${opts.method ?? 'OOD'} score (higher = more like the training photos)` } },
          y: { beginAtZero: true, title: { display: true, text: 'images' }, ticks: { precision: 0 } },
        },
      },
      plugins: [thresholdLine],
    },
    opts.width ?? 640,
    opts.height ?? 400,
  );
  return canvas.toBuffer('image/png');
}
