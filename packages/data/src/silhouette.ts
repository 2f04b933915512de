/**
 * The silhouette of the main dark object of a photo taken on light paper, and shape statistics of
 * it that do not change when the object is moved or turned: how big it is in the frame, how
 * elongated, how much of it is a hole, how well it fills its oriented box, how dark it is, and how
 * much other dark matter the frame holds.
 *
 * Segmentation: the paper's own brightness (vignetting, uneven light) is estimated per pixel by a
 * grey dilation (a max filter wider than the object, which removes dark objects) followed by a box
 * blur, and a pixel is "dark" when it is below `darkRatio` of that local paper level. The main
 * object is the largest 8-connected dark component. Deterministic, pure TypeScript, O(pixels) whatever the radius.
 *
 * Brightness: every decision is a ratio to the local paper level, so a brighter or darker lamp
 * (all pixels × a factor) leaves the shape alone — provided only the photo is measured. A `contain`
 * letterbox (decode.ts' fixed grey bars) does not change with the lamp: brighter paper made the bars
 * "dark objects" (every photo 25% brighter was rejected), darker paper lifted the paper estimate at
 * the edges. With `ignoreLetterbox` (the default) uniform bars of the fill colour at the frame's
 * edges are cut off first and the shape is measured on the photo inside them. The mean paper level
 * is reported (`paper`) but is not part of the default scoring vector, being the lamp, not the part.
 */
import { CONTAIN_FILL } from './decode';
import type { RawImage } from './types';

export interface SilhouetteOptions {
  /** A pixel is dark when grey < darkRatio × local paper level. Default 0.7. */
  darkRatio?: number;
  /** Max-filter radius as a fraction of the smaller side (must exceed half the object's width). Default 1/6. */
  backgroundRadius?: number;
  /** Smallest object, as a fraction of the frame's pixels, below which there is no object. Default 0.0005. */
  minArea?: number;
  /**
   * Cut off letterbox bars (whole edge rows/columns of decode.ts' CONTAIN_FILL) before measuring.
   * Default true; detectors fitted before it existed measured the whole frame (false).
   */
  ignoreLetterbox?: boolean;
}

export const SILHOUETTE_DEFAULTS = { darkRatio: 0.7, backgroundRadius: 1 / 6, minArea: 0.0005, ignoreLetterbox: true } as const;

/** Shape statistics of the main object. */
export interface SilhouetteShape {
  /** Object pixels / frame pixels. */
  areaFraction: number;
  /** sqrt(λ1/λ2) of the pixel coordinates' covariance: 1 for a disc or a square, L/W for a bar. */
  elongation: number;
  /** Enclosed background / (object + enclosed background): 0 for a solid object, (r/R)² for a ring of radii r < R. */
  holeFraction: number;
  /** Object pixels / area of its box along the principal axes (1 for a filled rectangle, π/4 for a disc). */
  extent: number;
  /** 1 − mean(grey / paper) over the object: how dark it is against the paper. */
  contrast: number;
  /** Dark pixels outside the main object / object pixels. */
  clutter: number;
  /** Whether the object touches the frame's edge. */
  touchesEdge: boolean;
  /** Mean local paper level over the frame, 0 (black) to 1 (white): how bright the background is. */
  paper: number;
}

/** Every feature a shape vector can hold (detectors fitted before `paper` was dropped hold all of them). */
export const SILHOUETTE_FEATURE_NAMES = ['logArea', 'logElongation', 'holeFraction', 'extent', 'contrast', 'logClutter', 'paper'] as const;
export type SilhouetteFeature = (typeof SILHOUETTE_FEATURE_NAMES)[number];

/**
 * The features new detectors score on, in order: the part's shape. Not `paper`, the mean paper
 * level, which is the lamp's brightness; not `logClutter`, which sensor noise and JPEG artefacts move
 * (stray dark specks): scored, it made the part reject 16 of 56 bolts-nuts test photos with noise
 * σ = 16 and 9 of 56 at JPEG quality 20; without it, none (docs/ood.md).
 * Clutter still decides whether the part applies (segmentationProblem).
 */
export const SILHOUETTE_FEATURES: readonly SilhouetteFeature[] = Object.freeze(['logArea', 'logElongation', 'holeFraction', 'extent', 'contrast']);

function featureValue(s: SilhouetteShape, f: SilhouetteFeature): number {
  switch (f) {
    case 'logArea':
      return Math.log(s.areaFraction);
    case 'logElongation':
      return Math.log(s.elongation);
    case 'holeFraction':
      return s.holeFraction;
    case 'extent':
      return s.extent;
    case 'contrast':
      return s.contrast;
    case 'logClutter':
      return Math.log1p(s.clutter);
    case 'paper':
      return s.paper;
  }
}

/**
 * The shape as a vector for distance-based scoring, one entry per name of `features` (default
 * SILHOUETTE_FEATURES): log area fraction, log elongation, hole fraction, extent, contrast,
 * log(1 + clutter) [, paper level]. Logs make scale ratios (a part twice as big, twice as long) equal steps.
 */
export function silhouetteVector(s: SilhouetteShape, features: readonly SilhouetteFeature[] = SILHOUETTE_FEATURES): number[] {
  return features.map((f) => featureValue(s, f));
}

export interface Silhouette {
  width: number;
  height: number;
  /** 1 = pixel of the main object (row-major, width × height), null when no object was found. */
  mask: Uint8Array | null;
  /** null when no dark component reaches `minArea`: the frame has no object (blank, washed out). */
  shape: SilhouetteShape | null;
  /** All dark pixels / frame pixels. */
  darkFraction: number;
}

/**
 * For each of `count` lines (start line*step, element stride `stride`, length n): dst = max of src
 * over ±r, the window clipped at the line's ends. Van Herk / Gil-Werman: the line padded by r on
 * each side (with -Infinity) and cut into blocks of 2r + 1; the maximum of a window is the larger of
 * the running maximum to its block's end from its first element and the running maximum from its
 * last element's block start, so each element costs three comparisons whatever r is.
 */
export function maxFilter1d(src: Float32Array, dst: Float32Array, n: number, stride: number, count: number, step: number, r: number): void {
  const k = 2 * r + 1;
  const len = n + 2 * r;
  const pad = new Float32Array(len).fill(-Infinity); // the line, r elements of -Infinity each side
  const fwd = new Float32Array(len); // max from the block's start to t
  const bwd = new Float32Array(len); // max from t to the block's end
  for (let line = 0; line < count; line++) {
    const base = line * step;
    for (let i = 0; i < n; i++) pad[r + i] = src[base + i * stride]!;
    for (let start = 0; start < len; start += k) {
      const end = Math.min(len, start + k);
      let m = -Infinity;
      for (let t = start; t < end; t++) {
        const v = pad[t]!;
        if (v > m) m = v;
        fwd[t] = m;
      }
      m = -Infinity;
      for (let t = end - 1; t >= start; t--) {
        const v = pad[t]!;
        if (v > m) m = v;
        bwd[t] = m;
      }
    }
    // Output i is the window of padded elements i .. i + 2r.
    for (let i = 0; i < n; i++) {
      const a = bwd[i]!;
      const b = fwd[i + 2 * r]!;
      dst[base + i * stride] = a > b ? a : b;
    }
  }
}

function boxBlur(src: Float32Array, w: number, h: number, r: number): Float32Array {
  // Integral image, window clipped at the borders.
  const I = new Float64Array((w + 1) * (h + 1));
  for (let y = 0; y < h; y++) {
    let row = 0;
    for (let x = 0; x < w; x++) {
      row += src[y * w + x];
      I[(y + 1) * (w + 1) + x + 1] = I[y * (w + 1) + x + 1] + row;
    }
  }
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    const y0 = Math.max(0, y - r);
    const y1 = Math.min(h, y + r + 1);
    for (let x = 0; x < w; x++) {
      const x0 = Math.max(0, x - r);
      const x1 = Math.min(w, x + r + 1);
      const s = I[y1 * (w + 1) + x1] - I[y0 * (w + 1) + x1] - I[y1 * (w + 1) + x0] + I[y0 * (w + 1) + x0];
      out[y * w + x] = s / ((y1 - y0) * (x1 - x0));
    }
  }
  return out;
}

/** Grey level (Rec. 601 luma) of an RGB image. */
function grey(img: RawImage): Float32Array {
  const n = img.width * img.height;
  if (img.data.length !== n * 3) throw new RangeError(`silhouette: ${img.data.length} bytes for ${img.width}x${img.height}x3`);
  const g = new Float32Array(n);
  for (let i = 0, o = 0; i < n; i++, o += 3) g[i] = 0.299 * img.data[o] + 0.587 * img.data[o + 1] + 0.114 * img.data[o + 2];
  return g;
}

/** Whether pixel i of `data` is the letterbox fill (within 1 level, for rounding). */
function isFill(data: Uint8Array, i: number): boolean {
  return Math.abs(data[i] - CONTAIN_FILL.r) <= 1 && Math.abs(data[i + 1] - CONTAIN_FILL.g) <= 1 && Math.abs(data[i + 2] - CONTAIN_FILL.b) <= 1;
}

/**
 * The photo inside letterbox bars: the box left after dropping whole edge rows and columns of the
 * fill colour (inclusive bounds), or null when every pixel is fill.
 */
export function letterboxContent(img: RawImage): { x0: number; y0: number; x1: number; y1: number } | null {
  const { width: w, height: h, data } = img;
  const rowFill = (y: number) => {
    for (let x = 0; x < w; x++) if (!isFill(data, (y * w + x) * 3)) return false;
    return true;
  };
  const colFill = (x: number, y0: number, y1: number) => {
    for (let y = y0; y <= y1; y++) if (!isFill(data, (y * w + x) * 3)) return false;
    return true;
  };
  let y0 = 0;
  let y1 = h - 1;
  while (y0 <= y1 && rowFill(y0)) y0++;
  if (y0 > y1) return null;
  while (y1 > y0 && rowFill(y1)) y1--;
  let x0 = 0;
  let x1 = w - 1;
  while (x0 < x1 && colFill(x0, y0, y1)) x0++;
  while (x1 > x0 && colFill(x1, y0, y1)) x1--;
  return { x0, y0, x1, y1 };
}

function crop(img: RawImage, b: { x0: number; y0: number; x1: number; y1: number }): RawImage {
  const cw = b.x1 - b.x0 + 1;
  const ch = b.y1 - b.y0 + 1;
  const out = new Uint8Array(cw * ch * 3);
  for (let y = 0; y < ch; y++) out.set(img.data.subarray(((b.y0 + y) * img.width + b.x0) * 3, ((b.y0 + y) * img.width + b.x1 + 1) * 3), y * cw * 3);
  return { data: out, width: cw, height: ch };
}

/** Local paper level: max filter of radius r (removes dark objects narrower than 2r), then a box blur. */
function paperLevel(g: Float32Array, w: number, h: number, r: number): Float32Array {
  const tmp = new Float32Array(w * h);
  const out = new Float32Array(w * h);
  maxFilter1d(g, tmp, w, 1, h, w, r); // rows
  maxFilter1d(tmp, out, h, w, w, 1, r); // columns
  return boxBlur(out, w, h, r);
}

/** Labels 8-connected components of `mask`; returns labels (0 = none) and each label's size. */
function components(mask: Uint8Array, w: number, h: number): { labels: Int32Array; sizes: number[] } {
  const labels = new Int32Array(w * h);
  const sizes = [0];
  const stack = new Int32Array(w * h);
  for (let start = 0; start < w * h; start++) {
    if (!mask[start] || labels[start]) continue;
    const id = sizes.length;
    let top = 0;
    let size = 0;
    stack[top++] = start;
    labels[start] = id;
    while (top > 0) {
      const p = stack[--top];
      size++;
      const px = p % w;
      const py = (p - px) / w;
      for (let dy = -1; dy <= 1; dy++) {
        const y = py + dy;
        if (y < 0 || y >= h) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const x = px + dx;
          if (x < 0 || x >= w) continue;
          const q = y * w + x;
          if (mask[q] && !labels[q]) {
            labels[q] = id;
            stack[top++] = q;
          }
        }
      }
    }
    sizes.push(size);
  }
  return { labels, sizes };
}

/** Background pixels enclosed by the object (not 4-connected to the outside of its bounding box). */
function holeArea(obj: Uint8Array, w: number, x0: number, y0: number, x1: number, y1: number): number {
  // Padded box so that the outside is one connected region around the object.
  const bw = x1 - x0 + 3;
  const bh = y1 - y0 + 3;
  const outside = new Uint8Array(bw * bh);
  const isObj = (bx: number, by: number) => {
    const x = bx + x0 - 1;
    const y = by + y0 - 1;
    return x >= x0 && x <= x1 && y >= y0 && y <= y1 && obj[y * w + x] === 1;
  };
  const stack: number[] = [0];
  outside[0] = 1;
  while (stack.length) {
    const p = stack.pop()!;
    const bx = p % bw;
    const by = (p - bx) / bw;
    const nb = [
      [bx - 1, by],
      [bx + 1, by],
      [bx, by - 1],
      [bx, by + 1],
    ];
    for (const [x, y] of nb) {
      if (x < 0 || y < 0 || x >= bw || y >= bh) continue;
      const q = y * bw + x;
      if (outside[q] || isObj(x, y)) continue;
      outside[q] = 1;
      stack.push(q);
    }
  }
  let holes = 0;
  for (let by = 0; by < bh; by++) for (let bx = 0; bx < bw; bx++) if (!outside[by * bw + bx] && !isObj(bx, by)) holes++;
  return holes;
}

/**
 * Segments the main dark object of `img` (any size; use the same decoded image the model sees)
 * and measures its shape. Never throws for odd content: a frame without a dark object of at least
 * `minArea` gives `shape: null`.
 */
export function measureSilhouette(img: RawImage, opts: SilhouetteOptions = {}): Silhouette {
  if (opts.ignoreLetterbox ?? SILHOUETTE_DEFAULTS.ignoreLetterbox) {
    const box = letterboxContent(img);
    if (box && (box.x0 > 0 || box.y0 > 0 || box.x1 < img.width - 1 || box.y1 < img.height - 1)) {
      const inner = measureSilhouette(crop(img, box), { ...opts, ignoreLetterbox: false });
      // The mask goes back into the whole frame; the shape stays relative to the photo inside the bars.
      let mask: Uint8Array | null = null;
      if (inner.mask) {
        mask = new Uint8Array(img.width * img.height);
        const cw = box.x1 - box.x0 + 1;
        for (let y = box.y0; y <= box.y1; y++) mask.set(inner.mask.subarray((y - box.y0) * cw, (y - box.y0 + 1) * cw), y * img.width + box.x0);
      }
      return { ...inner, width: img.width, height: img.height, mask };
    }
  }
  const darkRatio = opts.darkRatio ?? SILHOUETTE_DEFAULTS.darkRatio;
  const radiusFrac = opts.backgroundRadius ?? SILHOUETTE_DEFAULTS.backgroundRadius;
  const minArea = opts.minArea ?? SILHOUETTE_DEFAULTS.minArea;
  if (!(darkRatio > 0 && darkRatio < 1)) throw new RangeError(`silhouette: darkRatio must be in (0, 1), got ${darkRatio}`);
  if (!(radiusFrac > 0 && radiusFrac <= 1)) throw new RangeError(`silhouette: backgroundRadius must be in (0, 1], got ${radiusFrac}`);
  if (!(minArea >= 0 && minArea < 1)) throw new RangeError(`silhouette: minArea must be in [0, 1), got ${minArea}`);
  const { width: w, height: h } = img;
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1) throw new RangeError(`silhouette: bad size ${w}x${h}`);
  const n = w * h;
  const g = grey(img);
  const r = Math.max(1, Math.round(Math.min(w, h) * radiusFrac));
  const paper = paperLevel(g, w, h, r);
  const dark = new Uint8Array(n);
  let darkCount = 0;
  for (let i = 0; i < n; i++) {
    // A paper level of 0 (a black frame) has nothing darker than it.
    if (paper[i] > 0 && g[i] < darkRatio * paper[i]) {
      dark[i] = 1;
      darkCount++;
    }
  }
  const none: Silhouette = { width: w, height: h, mask: null, shape: null, darkFraction: darkCount / n };
  if (darkCount === 0) return none;
  const { labels, sizes } = components(dark, w, h);
  let best = 0;
  for (let id = 1; id < sizes.length; id++) if (sizes[id] > sizes[best]) best = id;
  const area = sizes[best];
  if (best === 0 || area < Math.max(1, minArea * n)) return none;

  let paperSum = 0;
  for (let i = 0; i < n; i++) paperSum += paper[i];
  const mask = new Uint8Array(n);
  let sx = 0;
  let sy = 0;
  let x0 = w;
  let y0 = h;
  let x1 = -1;
  let y1 = -1;
  let ratioSum = 0;
  for (let i = 0; i < n; i++) {
    if (labels[i] !== best) continue;
    mask[i] = 1;
    const x = i % w;
    const y = (i - x) / w;
    sx += x;
    sy += y;
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
    ratioSum += g[i] / paper[i];
  }
  const mx = sx / area;
  const my = sy / area;
  let cxx = 0;
  let cyy = 0;
  let cxy = 0;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      if (!mask[y * w + x]) continue;
      cxx += (x - mx) ** 2;
      cyy += (y - my) ** 2;
      cxy += (x - mx) * (y - my);
    }
  }
  // A pixel is a unit square: its own second moment (1/12) keeps a one-pixel line's width finite.
  cxx = cxx / area + 1 / 12;
  cyy = cyy / area + 1 / 12;
  cxy /= area;
  const tr = cxx + cyy;
  const disc = Math.sqrt(((cxx - cyy) / 2) ** 2 + cxy * cxy);
  const l1 = tr / 2 + disc;
  const l2 = Math.max(tr / 2 - disc, 1e-12);
  // Principal axis direction, then the object's extent along both axes.
  const theta = 0.5 * Math.atan2(2 * cxy, cxx - cyy);
  const c = Math.cos(theta);
  const s = Math.sin(theta);
  let uMin = Infinity;
  let uMax = -Infinity;
  let vMin = Infinity;
  let vMax = -Infinity;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      if (!mask[y * w + x]) continue;
      const u = (x - mx) * c + (y - my) * s;
      const v = -(x - mx) * s + (y - my) * c;
      if (u < uMin) uMin = u;
      if (u > uMax) uMax = u;
      if (v < vMin) vMin = v;
      if (v > vMax) vMax = v;
    }
  }
  const boxArea = (uMax - uMin + 1) * (vMax - vMin + 1);
  const holes = holeArea(mask, w, x0, y0, x1, y1);
  return {
    width: w,
    height: h,
    mask,
    darkFraction: darkCount / n,
    shape: {
      areaFraction: area / n,
      elongation: Math.sqrt(l1 / l2),
      holeFraction: holes / (area + holes),
      extent: Math.min(1, area / boxArea),
      contrast: 1 - ratioSum / area,
      clutter: (darkCount - area) / area,
      touchesEdge: x0 === 0 || y0 === 0 || x1 === w - 1 || y1 === h - 1,
      paper: paperSum / n / 255,
    },
  };
}
