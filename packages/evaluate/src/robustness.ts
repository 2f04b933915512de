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
 * Cost: (1 + Σ levels) fitted images and forward passes per photo; the default grid is 8 shifts ×
 * 3 levels = 25 per photo.
 */
import { promises as fs } from 'node:fs';
import sharp from 'sharp';
import { applyShift, decodeImage, decodePhoto, DEFAULT_SHIFTS, SHIFT_PARAM_UNITS, validateShifts, type RawImage, type ShiftSpec } from '@parts/data';
import { predictProbabilities, type Classifier } from '@parts/models';
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
}

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

function row(shift: string, level: number, param: number | null, correct: number, n: number): RobustnessRow {
  return { shift, level, param, accuracy: n ? correct / n : 0, correct, n, interval: wilsonInterval(correct, n) };
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
  const score = async (imgs: RawImage[]) => {
    const probs = await predictProbabilities(c, imgs, opts.batchSize ?? 16);
    forwardPasses += imgs.length;
    return probs.reduce((n, p, i) => n + (argMax(p) === samples[i].label ? 1 : 0), 0);
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
  const byShift = new Map<string, RobustnessRow[]>();
  for (const r of result.robustness) if (r.level > 0) byShift.set(r.shift, [...(byShift.get(r.shift) ?? []), r]);
  // The levels present (a budgeted run may keep, e.g., levels 1 and 3 only).
  const levels = [...new Set(result.robustness.filter((r) => r.level > 0).map((r) => r.level))].sort((a, b) => a - b);
  const head = ['<th>shift</th>', ...levels.map((l) => `<th>level ${l}</th>`)].join('');
  const body = [...byShift.entries()]
    .map(([shift, rs]) => {
      const cells = levels
        .map((l) => rs.find((r) => r.level === l))
        .map((r) => {
          if (!r) return '<td>—</td>';
          const drop = base && r.interval.high < base.accuracy;
          return `<td${drop ? ' class="drop"' : ''} title="${esc(`${result.units[shift] ?? ''}: ${r.param}`)}">${pct(r.accuracy)} <small>(${pct(r.interval.low)}–${pct(r.interval.high)}; ${esc(String(r.param))})</small></td>`;
        })
        .join('');
      return `<tr><th title="${esc(result.units[shift] ?? '')}">${esc(shift)}</th>${cells}</tr>`;
    })
    .join('\n');
  const caption = base
    ? `Accuracy under shifts; unshifted baseline ${pct(base.accuracy)} (${base.correct}/${base.n}, 95% CI ${pct(base.interval.low)}–${pct(base.interval.high)}). In brackets: 95% interval; shift parameter.`
    : 'Accuracy under shifts.';
  return `<table class="robustness">\n<caption>${esc(caption)}</caption>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}
