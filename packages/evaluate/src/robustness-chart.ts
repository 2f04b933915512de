// Line chart of accuracy against severity level, one line per shift, all starting from the
// unshifted baseline at level 0. Rendered by charts.ts' renderChart.
import type { ChartConfiguration } from 'chart.js';
import { PALETTE, renderChart } from './charts';
import type { RobustnessRow } from './robustness';

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
  const config: ChartConfiguration = {
    type: 'line',
    data: { labels: Array.from({ length: levels + 1 }, (_, l) => (l === 0 ? '0 (none)' : String(l))), datasets },
    options: {
      plugins: {
        title: { display: true, text: opts.title ?? 'Accuracy under shifts', font: { size: 16, weight: 'bold' } },
        legend: { position: 'bottom' },
      },
      scales: {
        x: { title: { display: true, text: 'severity level' } },
        y: { min: 0, max: 1, title: { display: true, text: 'accuracy' } },
      },
    },
  };
  return renderChart(config, width, height).toBuffer('image/png');
}
