/**
 * Controlled distribution shifts for robustness checks: each shift has severity levels 1..3 with a
 * parameter per level, applied to a decoded photo at its own size (before the model's resize/fit,
 * like a change in the camera, the light or the file would be). Geometric and blur parameters are
 * relative to the photo's size, so a level means the same at any resolution; noise is seeded per
 * (seed, photo key, shift, level), so results are reproducible and independent of the order.
 *
 * For the `parts` and `bolts-nuts` tasks the part's size in pixels IS the label (fixed camera
 * height): a `scale` shift changes the answer a perfect model should give, so its accuracy drop
 * measures how much the model relies on size, not a failure to generalise.
 */
import sharp, { type Sharp } from 'sharp';
import { makeRng } from './rng';
import type { RawImage } from './types';

export type ShiftName = 'brightness' | 'contrast' | 'blur' | 'noise' | 'jpeg' | 'rotation' | 'turn' | 'scale' | 'colour-cast' | 'cold-cast';

export interface ShiftSpec {
  name: ShiftName;
  /** Parameter per severity level (level i = params[i - 1]); meaning in SHIFT_PARAM_UNITS. */
  params: number[];
}

/** What a shift's parameter means. */
export const SHIFT_PARAM_UNITS: Readonly<Record<ShiftName, string>> = Object.freeze({
  brightness: 'factor on every channel',
  contrast: 'factor on the distance from the mean luminance',
  blur: 'Gaussian sigma as a fraction of the shorter side',
  noise: 'Gaussian noise standard deviation (0-255 scale)',
  jpeg: 'JPEG quality (re-encoded once)',
  rotation: 'degrees clockwise about the centre, corners filled with the border colour',
  turn: 'degrees clockwise, a multiple of 90: the whole photo turned losslessly (a landscape photo turned by 90° is portrait)',
  scale: 'zoom-in factor about the centre (size is the label for parts tasks)',
  'colour-cast': 'warm cast: red × (1 + a), blue × (1 - a)',
  'cold-cast': 'cold cast: blue × (1 + a), red × (1 - a)',
});

/**
 * The default grid: 8 shifts × 3 levels (24 shifted copies of each test photo, plus the baseline).
 * Levels go from a change a person would barely notice to a clearly degraded photo.
 */
export const DEFAULT_SHIFTS: readonly ShiftSpec[] = Object.freeze([
  { name: 'brightness', params: [0.8, 0.6, 0.4] },
  { name: 'contrast', params: [0.7, 0.5, 0.3] },
  { name: 'blur', params: [0.004, 0.008, 0.016] },
  { name: 'noise', params: [8, 16, 32] },
  { name: 'jpeg', params: [50, 20, 5] },
  { name: 'rotation', params: [15, 45, 90] },
  { name: 'scale', params: [1.1, 1.25, 1.5] },
  { name: 'colour-cast', params: [0.1, 0.2, 0.35] },
] satisfies ShiftSpec[]);

/**
 * The light of a real line, each at the strength a lamp change brings (not graded by severity):
 * a lamp 30% dimmer and 25% brighter, contrast down 30%, a warm and a cold cast. Models train with
 * the matching augmentation (augment.ts LINE_LIGHT); evaluation reports accuracy and acceptance
 * under each.
 */
export const LINE_LIGHT_SHIFTS: readonly ShiftSpec[] = Object.freeze([
  { name: 'brightness', params: [0.7, 1.25] },
  { name: 'contrast', params: [0.7] },
  { name: 'colour-cast', params: [0.2] },
  { name: 'cold-cast', params: [0.2] },
] satisfies ShiftSpec[]);

/**
 * The photo turned by quarter turns, losslessly: a part that arrives turned on the line, or a camera
 * mounted turned (a landscape photo turned by 90° is portrait, and the model fits it as any upload).
 * The severity grid's `rotation` turns the part inside the photo's own frame instead, which cuts a
 * part longer than the frame's short side.
 */
export const LINE_TURN_SHIFTS: readonly ShiftSpec[] = Object.freeze([{ name: 'turn', params: [90, 180, 270] }] satisfies ShiftSpec[]);

export const SHIFT_NAMES: readonly ShiftName[] = Object.freeze(Object.keys(SHIFT_PARAM_UNITS) as ShiftName[]);

/** Checks a shift grid, naming the bad entry. */
export function validateShifts(shifts: readonly ShiftSpec[]): void {
  shifts.forEach((s, i) => {
    if (!SHIFT_NAMES.includes(s.name)) throw new Error(`shifts[${i}]: unknown shift "${s.name}"; known: ${SHIFT_NAMES.join(', ')}`);
    if (!Array.isArray(s.params) || s.params.length === 0) throw new Error(`shifts[${i}] (${s.name}): params must list at least one level`);
    for (const p of s.params) checkParam(s.name, p);
  });
}

function checkParam(name: ShiftName, p: number): void {
  const bad = (why: string) => new RangeError(`shift ${name}: parameter ${p} ${why}`);
  if (!Number.isFinite(p)) throw bad('is not a finite number');
  switch (name) {
    case 'brightness':
    case 'contrast':
      if (p < 0) throw bad('must be >= 0');
      break;
    case 'blur':
      if (p <= 0 || p > 0.5) throw bad('must be in (0, 0.5]');
      break;
    case 'noise':
      if (p < 0) throw bad('must be >= 0');
      break;
    case 'jpeg':
      if (!Number.isInteger(p) || p < 1 || p > 100) throw bad('must be an integer 1-100');
      break;
    case 'scale':
      if (p < 1) throw bad('must be >= 1 (zoom in)');
      break;
    case 'colour-cast':
    case 'cold-cast':
      if (p < 0 || p > 1) throw bad('must be in [0, 1]');
      break;
    case 'rotation':
      break;
    case 'turn':
      if (!Number.isInteger(p) || p % 90 !== 0) throw bad('must be a multiple of 90');
      break;
  }
}

const clamp255 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

function mapPixels(img: RawImage, f: (v: number, channel: number) => number): RawImage {
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = clamp255(f(img.data[i], i % 3));
  return { data: out, width: img.width, height: img.height };
}

function toSharp(img: RawImage) {
  return sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels: 3 } });
}

async function fromSharp(p: Sharp): Promise<RawImage> {
  const { data, info } = await p.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`internal: shift produced ${info.channels} channels`);
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

/** Per-channel median of the border pixels: the background colour, for filling rotated corners. */
function borderColour(img: RawImage): { r: number; g: number; b: number } {
  const { width: w, height: h, data } = img;
  const ch: number[][] = [[], [], []];
  const add = (x: number, y: number) => {
    for (let c = 0; c < 3; c++) ch[c].push(data[(y * w + x) * 3 + c]);
  };
  for (let x = 0; x < w; x++) add(x, 0), add(x, h - 1);
  for (let y = 1; y < h - 1; y++) add(0, y), add(w - 1, y);
  const med = (v: number[]) => v.sort((a, b) => a - b)[v.length >> 1];
  return { r: med(ch[0]), g: med(ch[1]), b: med(ch[2]) };
}

/** Standard normal draws from a seeded uniform generator (Box-Muller). */
function gaussian(rng: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u = 1 - rng(), v = rng();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

export interface ApplyShiftOptions {
  /** Seed of the random shifts (noise). Default 0. */
  seed?: number;
  /** Identifies the photo in the seed (e.g. its file name), so each photo gets its own noise. */
  key?: string;
}

/** Applies one shift with parameter `param` to an RGB photo; returns a new image of the same size. */
export async function applyShift(img: RawImage, name: ShiftName, param: number, opts: ApplyShiftOptions = {}): Promise<RawImage> {
  checkParam(name, param);
  if (img.data.length !== img.width * img.height * 3) throw new RangeError(`applyShift: ${img.data.length} bytes for ${img.width}x${img.height} RGB`);
  const { width: w, height: h } = img;
  switch (name) {
    case 'brightness':
      return mapPixels(img, (v) => v * param);
    case 'contrast': {
      let sum = 0;
      for (let i = 0; i < w * h; i++) sum += 0.299 * img.data[i * 3] + 0.587 * img.data[i * 3 + 1] + 0.114 * img.data[i * 3 + 2];
      const mean = sum / (w * h);
      return mapPixels(img, (v) => mean + (v - mean) * param);
    }
    case 'blur': {
      const sigma = param * Math.min(w, h);
      // sharp's Gaussian blur needs sigma >= 0.3; below that the photo is unchanged at pixel scale.
      return sigma < 0.3 ? { ...img, data: img.data.slice() } : fromSharp(toSharp(img).blur(sigma));
    }
    case 'noise': {
      const normal = gaussian(makeRng(`${opts.seed ?? 0}:${opts.key ?? ''}:noise:${param}`));
      return mapPixels(img, (v) => v + param * normal());
    }
    case 'jpeg': {
      const jpeg = await toSharp(img).jpeg({ quality: param }).toBuffer();
      return fromSharp(sharp(jpeg));
    }
    case 'rotation': {
      const background = borderColour(img);
      // Pad to the diagonal first so that the rotated photo covers the original frame at any angle
      // (a 90° turn of a landscape photo is narrower than the frame), then cut the frame out of the centre.
      const d = Math.ceil(Math.hypot(w, h));
      const padX = Math.ceil((d - w) / 2), padY = Math.ceil((d - h) / 2);
      const padded = await toSharp(img).extend({ left: padX, right: padX, top: padY, bottom: padY, background }).raw().toBuffer({ resolveWithObject: true });
      const rotated = await sharp(padded.data, { raw: { width: padded.info.width, height: padded.info.height, channels: 3 } })
        .rotate(param, { background })
        .raw()
        .toBuffer({ resolveWithObject: true });
      const left = Math.round((rotated.info.width - w) / 2), top = Math.round((rotated.info.height - h) / 2);
      return fromSharp(sharp(rotated.data, { raw: { width: rotated.info.width, height: rotated.info.height, channels: 3 } }).extract({ left, top, width: w, height: h }));
    }
    case 'turn':
      return fromSharp(toSharp(img).rotate(((param % 360) + 360) % 360));
    case 'scale': {
      const cw = Math.max(1, Math.round(w / param)), ch = Math.max(1, Math.round(h / param));
      const left = Math.floor((w - cw) / 2), top = Math.floor((h - ch) / 2);
      return fromSharp(toSharp(img).extract({ left, top, width: cw, height: ch }).resize(w, h, { fit: 'fill' }));
    }
    case 'colour-cast': {
      const gain = [1 + param, 1, 1 - param];
      return mapPixels(img, (v, c) => v * gain[c]);
    }
    case 'cold-cast': {
      const gain = [1 - param, 1, 1 + param];
      return mapPixels(img, (v, c) => v * gain[c]);
    }
  }
}
