/**
 * Where the model breaks: accuracy on the test photos under controlled shifts (packages/data's
 * shifts.ts), per shift and severity level, beside the unshifted baseline (level 0).
 *
 * Each shift is applied to the photo as decoded at its own size (EXIF-oriented RGB), before the
 * model's resize/fit; the shifted photo is then handed to decodeImage as a lossless PNG, so it is
 * fitted and preprocessed exactly as predict and serve would treat an uploaded photo. (Shifting
 * the fitted 128 px input instead would be cheaper, but blur, noise and JPEG artefacts would then
 * act at the model's scale rather than the camera's, and the zoom would lose the margin `cover`
 * cuts off.)
 *
 * With the model's OOD detector (ood.json) each row also counts the photos the detector accepts
 * (not "unknown") and those accepted but classified wrong: a shift that keeps the accuracy but turns
 * every answer into "Not recognised" is as much a failure on a line as one that breaks the classifier.
 *
 * Cost: (1 + Σ levels) fitted images and forward passes per photo; the default grid is 8 shifts ×
 * 3 levels = 25 per photo.
 */
import { promises as fs } from 'node:fs';
import sharp from 'sharp';
import { applyShift, decodeImage, decodePhoto, DEFAULT_SHIFTS, SHIFT_PARAM_UNITS, validateShifts, type RawImage, type ShiftSpec } from '@parts/data';
import { computeFeaturesAndLogits, decideRows, detectorShapes, featureAndLogitModel, predictProbabilities, type Classifier, type OodDetector } from '@parts/models';
import { wilsonInterval, type Interval } from './metrics';

export interface RobustnessRow {
  /** Shift name, or 'none' for the baseline. */
  shift: string;
  /** Severity 1..levels; 0 = the unshifted baseline. */
  level: number;
  /** The shift's parameter at this level (null for the baseline); see SHIFT_PARAM_UNITS. */
  param: number | null;
  accuracy: number;
  correct: number;
  n: number;
  /** Wilson 95% interval of the accuracy. */
  interval: Interval;
  /** With a detector: photos accepted as known (not "unknown"), its share and Wilson interval. */
  accepted?: number;
  acceptance?: number;
  acceptanceInterval?: Interval;
  /** With a detector: photos accepted but classified wrong. */
  acceptedWrong?: number;
  /** With a detector: photos each part rejects on its own (silhouette: null without that part). */
  rejectedBy?: { feature: number; silhouette: number | null };
  /**
   * 'line-light': a row of LINE_LIGHT_SHIFTS, 'turns': of LINE_TURN_SHIFTS (the level numbers that
   * grid's parameters); absent: the severity grid.
   */
  grid?: RobustnessGrid;
}

export type RobustnessGrid = 'line-light' | 'turns';

/** The grids beside the severity grid, in the report's order: its table's first column and caption. */
export const EXTRA_GRIDS: readonly { grid: RobustnessGrid; heading: string; caption: string }[] = Object.freeze([
  { grid: 'line-light', heading: 'line light', caption: 'Under the light of a line (lamp dimmer/brighter, contrast, warm and cold casts)' },
  {
    grid: 'turns',
    heading: 'turned photo',
    caption:
      'The photo turned by quarter turns, losslessly, as a part arriving turned or a camera mounted turned gives it (a landscape photo turned by 90° is portrait and is fitted as any upload; the rotation row above turns the part inside the original frame, which can cut it)',
  },
]);

export interface RobustnessResult {
  format: 'parts-robustness/1';
  /** Baseline first (shift 'none', level 0), then each shift's levels in order. */
  robustness: RobustnessRow[];
  /** Meaning of each shift's parameter. */
  units: Record<string, string>;
  seed: number;
  /** Forward passes run (images × (1 + levels)). */
  forwardPasses: number;
  seconds: number;
}

/** A test photo: its file (or bytes) and its true label index. */
export interface RobustnessSample {
  file: string;
  label: number;
  /** The file's bytes, when already in memory. */
  bytes?: Buffer;
}

export interface RobustnessOptions {
  shifts?: readonly ShiftSpec[];
  /** Seed of the random shifts (noise). Default 0. */
  seed?: number;
  batchSize?: number;
  /** Called after each shift level with the rows so far. */
  onRow?: (row: RobustnessRow) => void;
  /** The model's OOD detector: rows then count acceptance too. */
  detector?: OodDetector | null;
}

function argMax(p: Float32Array): number {
  let best = 0;
  for (let j = 1; j < p.length; j++) if (p[j] > p[best]) best = j;
  return best;
}

/** Fits a decoded photo to the model's input through decodeImage (lossless PNG in between). */
async function fit(c: Classifier, img: RawImage, name: string): Promise<RawImage> {
  const png = await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels: 3 } })
    .png({ compressionLevel: 0 })
    .toBuffer();
  return decodeImage(png, { size: c.meta.imgSize, fit: c.meta.fit, name });
}

interface Counts {
  correct: number;
  accepted?: number;
  acceptedWrong?: number;
  rejectedBy?: RobustnessRow['rejectedBy'];
}

function row(shift: string, level: number, param: number | null, c: Counts, n: number): RobustnessRow {
  const r: RobustnessRow = { shift, level, param, accuracy: n ? c.correct / n : 0, correct: c.correct, n, interval: wilsonInterval(c.correct, n) };
  if (c.accepted !== undefined) {
    r.accepted = c.accepted;
    r.acceptance = n ? c.accepted / n : 0;
    r.acceptanceInterval = wilsonInterval(c.accepted, n);
    r.acceptedWrong = c.acceptedWrong ?? 0;
    if (c.rejectedBy) r.rejectedBy = c.rejectedBy;
  }
  return r;
}

/**
 * Accuracy of `c` on `samples` for the baseline and every shift level. Photos are decoded once;
 * each shifted copy is fitted and classified in batches.
 */
export async function evaluateRobustness(c: Classifier, samples: readonly RobustnessSample[], opts: RobustnessOptions = {}): Promise<RobustnessResult> {
  const t0 = performance.now();
  const shifts = opts.shifts ?? DEFAULT_SHIFTS;
  validateShifts(shifts);
  const seed = opts.seed ?? 0;
  if (samples.length === 0) throw new Error('evaluateRobustness: no test photos');
  const k = c.meta.labels.length;
  samples.forEach((s, i) => {
    if (!Number.isInteger(s.label) || s.label < 0 || s.label >= k) throw new RangeError(`evaluateRobustness: sample ${i} (${s.file}) has label ${s.label}, the model has ${k} labels`);
  });
  const photos: RawImage[] = [];
  const inputs: RawImage[] = [];
  for (const s of samples) {
    const bytes = s.bytes ?? (await fs.readFile(s.file));
    photos.push(await decodePhoto(bytes, s.file));
    // The baseline goes through decodeImage on the file's own bytes: what predict sees.
    inputs.push(await decodeImage(bytes, { size: c.meta.imgSize, fit: c.meta.fit, name: s.file }));
  }
  let forwardPasses = 0;
  const detector = opts.detector ?? null;
  const fl = detector ? featureAndLogitModel(c.model) : null;
  try {
    const score = async (imgs: RawImage[]): Promise<Counts> => {
      forwardPasses += imgs.length;
      if (fl && detector) {
        const rows = await computeFeaturesAndLogits(fl, imgs, c.meta, opts.batchSize ?? 16);
        const ds = decideRows(rows, c.meta.labels, detector, undefined, detectorShapes(detector, imgs));
        let correct = 0;
        let accepted = 0;
        let acceptedWrong = 0;
        ds.forEach((d, i) => {
          const right = d.top === c.meta.labels[samples[i].label];
          if (right) correct++;
          if (!d.unknown) {
            accepted++;
            if (!right) acceptedWrong++;
          }
        });
        const rejectedBy = {
          feature: ds.filter((d) => !(d.ood!.score >= d.ood!.threshold)).length,
          silhouette: detector.silhouette ? ds.filter((d) => !((d.ood!.silhouette!.score ?? -Infinity) >= d.ood!.silhouette!.threshold)).length : null,
        };
        return { correct, accepted, acceptedWrong, rejectedBy };
      }
      const probs = await predictProbabilities(c, imgs, opts.batchSize ?? 16);
      return { correct: probs.reduce((n, p, i) => n + (argMax(p) === samples[i].label ? 1 : 0), 0) };
    };
    const rows: RobustnessRow[] = [row('none', 0, null, await score(inputs), samples.length)];
    opts.onRow?.(rows[0]);
    for (const s of shifts) {
      for (const [i, param] of s.params.entries()) {
        const shifted: RawImage[] = [];
        for (const [j, photo] of photos.entries()) {
          shifted.push(await fit(c, await applyShift(photo, s.name, param, { seed, key: samples[j].file }), samples[j].file));
        }
        const r = row(s.name, i + 1, param, await score(shifted), samples.length);
        rows.push(r);
        opts.onRow?.(r);
      }
    }
    const units: Record<string, string> = {};
    for (const s of shifts) units[s.name] = SHIFT_PARAM_UNITS[s.name];
    return { format: 'parts-robustness/1', robustness: rows, units, seed, forwardPasses, seconds: (performance.now() - t0) / 1000 };
  } finally {
    fl?.dispose();
  }
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

/**
 * An HTML table for the report: one row per shift, one column per level, each cell the accuracy
 * with its Wilson interval and the parameter; the baseline in the caption. Self-contained markup
 * (no scripts); class names `robustness`, `drop` (cell below the baseline's interval).
 */
export function robustnessTableHtml(result: Pick<RobustnessResult, 'robustness' | 'units'>): string {
  const base = result.robustness.find((r) => r.level === 0);
  const graded = result.robustness.filter((r) => r.level > 0 && !r.grid);
  const byShift = new Map<string, RobustnessRow[]>();
  for (const r of graded) byShift.set(r.shift, [...(byShift.get(r.shift) ?? []), r]);
  // The levels present (a budgeted run may keep, e.g., levels 1 and 3 only).
  const levels = [...new Set(graded.map((r) => r.level))].sort((a, b) => a - b);
  const head = ['<th>shift</th>', ...levels.map((l) => `<th>level ${l}</th>`)].join('');
  const body = [...byShift.entries()]
    .map(([shift, rs]) => {
      const cells = levels
        .map((l) => rs.find((r) => r.level === l))
        .map((r) => {
          if (!r) return '<td>—</td>';
          const drop = base && r.interval.high < base.accuracy;
          return `<td${drop ? ' class="drop"' : ''} title="${esc(`${result.units[shift] ?? ''}: ${r.param}`)}">${pct(r.accuracy)} <small>(${pct(r.interval.low)}–${pct(r.interval.high)}; ${esc(String(r.param))})</small>${acceptedText(r)}</td>`;
        })
        .join('');
      return `<tr><th title="${esc(result.units[shift] ?? '')}">${esc(shift)}</th>${cells}</tr>`;
    })
    .join('\n');
  const accepts = base?.accepted !== undefined;
  const caption = base
    ? `Accuracy under shifts; unshifted baseline ${pct(base.accuracy)} (${base.correct}/${base.n}, 95% CI ${pct(base.interval.low)}–${pct(base.interval.high)})` +
      (accepts ? `, accepted as known ${base.accepted}/${base.n}` : '') +
      `. In brackets: 95% interval; shift parameter.${accepts ? ' "acc." = accepted as known (not unknown), of them wrong.' : ''}`
    : 'Accuracy under shifts.';
  const graded_ = `<table class="robustness">\n<caption>${esc(caption)}</caption>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
  const extra = EXTRA_GRIDS.map((g) => extraGridTableHtml(g, result.robustness.filter((r) => r.grid === g.grid), accepts, result.units)).filter(Boolean);
  return [graded_, ...extra].join('\n');
}

/** The table of one extra grid's rows ('' when it has none): accuracy, acceptance and accepted-but-wrong per shift. */
function extraGridTableHtml(g: (typeof EXTRA_GRIDS)[number], rows: readonly RobustnessRow[], accepts: boolean, units: Record<string, string>): string {
  if (!rows.length) return '';
  const body = rows
    .map(
      (r) =>
        `<tr><th title="${esc(units[r.shift] ?? '')}">${esc(r.shift)} ${esc(String(r.param))}</th><td>${pct(r.accuracy)} <small>(${r.correct}/${r.n}; ${pct(r.interval.low)}–${pct(r.interval.high)})</small></td>` +
        (accepts ? `<td>${r.accepted === undefined ? '—' : `${pct(r.acceptance!)} <small>(${r.accepted}/${r.n}; ${pct(r.acceptanceInterval!.low)}–${pct(r.acceptanceInterval!.high)})</small>`}</td><td>${r.acceptedWrong ?? '—'}</td>` : '') +
        '</tr>',
    )
    .join('\n');
  const head = `<th>${esc(g.heading)}</th><th>accuracy</th>${accepts ? '<th>accepted as known</th><th>accepted but wrong</th>' : ''}`;
  return `<table class="robustness ${g.grid}">\n<caption>${esc(`${g.caption}; 95% Wilson intervals.`)}</caption>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

/** ` · acc. a/n (w wrong)` for a row with acceptance counts, else nothing. */
function acceptedText(r: RobustnessRow): string {
  return r.accepted === undefined ? '' : ` <small>· acc. ${r.accepted}/${r.n}${r.acceptedWrong ? ` (${r.acceptedWrong} wrong)` : ''}</small>`;
}
