// Line chart of accuracy against severity level, one line per shift, all starting from the
// unshifted baseline at level 0. Rendered like charts.ts: chart.js on an @napi-rs/canvas canvas.
import { createCanvas } from '@napi-rs/canvas';
import { Chart, registerables } from 'chart.js';
import type { ChartConfiguration, Plugin } from 'chart.js';
import { fontFamilyList } from './fonts';
import type { RobustnessRow } from './robustness';

Chart.register(...registerables);

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

const whiteBackground: Plugin = {
  id: 'robustnessWhiteBackground',
  beforeDraw(chart) {
    const ctx = chart.ctx;
    ctx.save();
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, chart.width, chart.height);
    ctx.restore();
  },
};

/** PNG: accuracy (0-1) against level (0 = baseline) per shift. */
export function robustnessChartPng(rows: readonly RobustnessRow[], opts: { title?: string; width?: number; height?: number } = {}): Buffer {
  const base = rows.find((r) => r.level === 0);
  const shifts = [...new Set(rows.filter((r) => r.level > 0).map((r) => r.shift))];
  if (shifts.length === 0) throw new Error('robustness chart: no shifted rows');
  const levels = Math.max(...rows.map((r) => r.level));
  const width = opts.width ?? 800;
  const height = opts.height ?? 450;
  const datasets = shifts.map((shift, i) => {
    const data: (number | null)[] = Array.from({ length: levels + 1 }, () => null);
    if (base) data[0] = base.accuracy;
    for (const r of rows) if (r.shift === shift) data[r.level] = r.accuracy;
    const colour = PALETTE[i % PALETTE.length];
    return { label: shift, data, borderColor: colour, backgroundColor: colour, pointRadius: 3, tension: 0, spanGaps: true };
  });
  Chart.defaults.font.family = fontFamilyList();
  Chart.defaults.color = '#222';
  const canvas = createCanvas(width, height);
  const config: ChartConfiguration = {
    type: 'line',
    data: { labels: Array.from({ length: levels + 1 }, (_, l) => (l === 0 ? '0 (none)' : String(l))), datasets },
    options: {
      responsive: false,
      animation: false,
      devicePixelRatio: 1,
      plugins: {
        title: { display: true, text: opts.title ?? 'Accuracy under shifts', font: { size: 16, weight: 'bold' } },
        legend: { position: 'bottom' },
      },
      scales: {
        x: { title: { display: true, text: 'severity level' } },
        y: { min: 0, max: 1, title: { display: true, text: 'accuracy' } },
      },
    },
    plugins: [whiteBackground],
  };
  const chart = new Chart(canvas as unknown as HTMLCanvasElement, config);
  chart.draw();
  const png = canvas.toBuffer('image/png');
  chart.destroy();
  return png;
}
