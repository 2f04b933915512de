import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { mapLimit } from './list';
import { makeRng } from './rng';

export const DEMO_CLASSES = ['big', 'small'] as const;
type DemoClass = (typeof DEMO_CLASSES)[number];

export interface DemoOptions {
  /** Default 1. */
  seed?: number;
  /** Images per class in train; default 27 big / 13 small (40 / 20 in all, 2/3 train as in the study). */
  trainPerClass?: number;
  /** Images per class in test; default 13 big / 7 small. */
  testPerClass?: number;
  /** Default 640 × 480, like the study's photos. */
  width?: number;
  height?: number;
}

const DEFAULT_COUNTS: Record<DemoClass, { train: number; test: number }> = {
  big: { train: 27, test: 13 },
  small: { train: 13, test: 7 },
};
// Bump when the drawing changes, so an existing folder made by older code is regenerated.
const GENERATOR_VERSION = 1;
const MARKER = '.demo.json';

/** Part dimensions in pixels at 640 px image width: an M12-like and an M5-like hex bolt. */
const PART_SHAPES: Record<DemoClass, { shank: [number, number]; diameter: [number, number]; head: [number, number] }> = {
  big: { shank: [140, 185], diameter: [38, 48], head: [26, 34] },
  small: { shank: [60, 90], diameter: [13, 18], head: [9, 13] },
};

const between = (rng: () => number, [lo, hi]: [number, number]) => lo + (hi - lo) * rng();
const clamp01 = (x: number) => (x < 0 ? 0 : x > 1 ? 1 : x);

/** Signed distance to an axis-aligned box centred at (cx, 0) with half-sizes hx, hy and corner radius r. */
function boxSdf(u: number, v: number, cx: number, hx: number, hy: number, r: number): number {
  const qx = Math.abs(u - cx) - hx + r;
  const qy = Math.abs(v) - hy + r;
  const ox = qx > 0 ? qx : 0;
  const oy = qy > 0 ? qy : 0;
  const outside = Math.sqrt(ox * ox + oy * oy);
  return outside + Math.min(Math.max(qx, qy), 0) - r;
}

interface Bolt {
  cx: number;
  cy: number;
  cos: number;
  sin: number;
  headC: number;
  headHx: number;
  headHy: number;
  shankC: number;
  shankHx: number;
  shankHy: number;
  threadFrom: number;
  pitch: number;
  radius: number;
}

const headSdf = (b: Bolt, u: number, v: number) => boxSdf(u, v, b.headC, b.headHx, b.headHy, b.headHy * 0.15);
const shankSdf = (b: Bolt, u: number, v: number) => boxSdf(u, v, b.shankC, b.shankHx, b.shankHy, b.shankHy * 0.25);

/**
 * Draws one photo-like top-down picture: paper with a lighting gradient, vignette, texture and
 * specks; a dark hex bolt with cylinder shading, threads and a soft shadow; sensor noise.
 * Returns RGB bytes plus the blur and JPEG quality to apply when encoding.
 */
export function renderDemoImage(cls: DemoClass, rng: () => number, width: number, height: number) {
  const s = width / 640;
  const img = new Float32Array(width * height * 3);

  // Paper: greenish-gray base like the study's photos, exposure, gradient and vignette.
  const exposure = between(rng, [0.82, 1.08]);
  const base = [between(rng, [180, 210]), between(rng, [195, 222]), between(rng, [178, 200])].map((c) => c * exposure);
  const gradAngle = rng() * 2 * Math.PI;
  const gradStrength = between(rng, [0.05, 0.22]);
  const vignette = between(rng, [0.1, 0.35]);
  const gx = Math.cos(gradAngle) / width;
  const gy = Math.sin(gradAngle) / height;
  // Low-frequency paper texture: a coarse random grid, bilinearly upsampled.
  const tw = 17;
  const th = 13;
  const tex = Float32Array.from({ length: tw * th }, () => (rng() - 0.5) * 0.05);
  for (let y = 0; y < height; y++) {
    const ty = (y / height) * (th - 1);
    const ty0 = Math.floor(ty);
    const fy = ty - ty0;
    const ny = (2 * y) / height - 1;
    for (let x = 0; x < width; x++) {
      const tx = (x / width) * (tw - 1);
      const tx0 = Math.floor(tx);
      const fx = tx - tx0;
      const t =
        tex[ty0 * tw + tx0] * (1 - fx) * (1 - fy) +
        tex[ty0 * tw + tx0 + 1] * fx * (1 - fy) +
        tex[(ty0 + 1) * tw + tx0] * (1 - fx) * fy +
        tex[(ty0 + 1) * tw + tx0 + 1] * fx * fy;
      const nx = (2 * x) / width - 1;
      const light = 1 + gradStrength * ((x - width / 2) * gx + (y - height / 2) * gy) * 2 - vignette * 0.5 * (nx * nx + ny * ny) + t;
      const o = (y * width + x) * 3;
      img[o] = base[0] * light;
      img[o + 1] = base[1] * light;
      img[o + 2] = base[2] * light;
    }
  }
  // Dust specks on the paper.
  const specks = Math.floor(between(rng, [4, 18]));
  for (let k = 0; k < specks; k++) {
    const sx = rng() * width;
    const sy = rng() * height;
    const r = between(rng, [0.6, 1.8]) * s;
    const dark = between(rng, [0.35, 0.7]);
    for (let y = Math.max(0, Math.floor(sy - r - 1)); y <= Math.min(height - 1, Math.ceil(sy + r + 1)); y++) {
      for (let x = Math.max(0, Math.floor(sx - r - 1)); x <= Math.min(width - 1, Math.ceil(sx + r + 1)); x++) {
        const a = clamp01(r + 0.5 - Math.sqrt((x - sx) ** 2 + (y - sy) ** 2)) * dark;
        const o = (y * width + x) * 3;
        for (let c = 0; c < 3; c++) img[o + c] *= 1 - a;
      }
    }
  }

  // The part: sizes vary with the part and with the camera distance.
  const shape = PART_SHAPES[cls];
  const zoom = between(rng, [0.9, 1.1]) * s;
  const shankLen = between(rng, shape.shank) * zoom;
  const diameter = between(rng, shape.diameter) * zoom;
  const headLen = between(rng, shape.head) * zoom;
  const headWidth = diameter * between(rng, [1.5, 1.75]);
  const total = shankLen + headLen;
  const angle = rng() * 2 * Math.PI;
  const reach = total / 2 + 12 * s;
  const bolt: Bolt = {
    cx: between(rng, [reach, width - reach]),
    cy: between(rng, [reach, height - reach].sort((a, b) => a - b) as [number, number]),
    cos: Math.cos(angle),
    sin: Math.sin(angle),
    headC: -total / 2 + headLen / 2,
    headHx: headLen / 2,
    headHy: headWidth / 2,
    shankC: -total / 2 + headLen + shankLen / 2,
    shankHx: shankLen / 2,
    shankHy: diameter / 2,
    threadFrom: -total / 2 + headLen + shankLen * between(rng, [0, 0.45]),
    pitch: diameter * between(rng, [0.14, 0.18]),
    radius: total / 2,
  };
  // If the part is longer than the image is tall, clamp it into the frame (it may then be cut).
  bolt.cy = Math.min(Math.max(bolt.cy, 0), height);
  const metal = between(rng, [32, 58]) * exposure;
  const highlightAt = between(rng, [-0.5, 0.5]);
  const shadowLen = between(rng, [2, 7]) * s;
  const shadowDir = gradAngle + Math.PI;
  const sdx = Math.cos(shadowDir) * shadowLen;
  const sdy = Math.sin(shadowDir) * shadowLen;
  const shadowSoft = between(rng, [4, 9]) * s;
  const shadowDark = between(rng, [0.15, 0.35]);

  const pad = shadowLen + shadowSoft + 3;
  const x0 = Math.max(0, Math.floor(bolt.cx - bolt.radius - headWidth - pad));
  const x1 = Math.min(width - 1, Math.ceil(bolt.cx + bolt.radius + headWidth + pad));
  const y0 = Math.max(0, Math.floor(bolt.cy - bolt.radius - headWidth - pad));
  const y1 = Math.min(height - 1, Math.ceil(bolt.cy + bolt.radius + headWidth + pad));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const o = (y * width + x) * 3;
      // Part-local coordinates: u along the axis, v across it.
      const dx = x - bolt.cx;
      const dy = y - bolt.cy;
      const u = dx * bolt.cos + dy * bolt.sin;
      const v = -dx * bolt.sin + dy * bolt.cos;
      // Soft contact shadow cast away from the light (the same shape, displaced).
      const su = u - (sdx * bolt.cos + sdy * bolt.sin);
      const sv = v - (-sdx * bolt.sin + sdy * bolt.cos);
      const sh = Math.min(headSdf(bolt, su, sv), shankSdf(bolt, su, sv));
      const shadow = shadowDark * (1 - clamp01((sh + shadowSoft * 0.3) / shadowSoft));
      const dHead = headSdf(bolt, u, v);
      const dShank = shankSdf(bolt, u, v);
      const inHead = dHead < dShank;
      const cover = clamp01(0.5 - (inHead ? dHead : dShank));
      if (shadow <= 0 && cover <= 0) continue;
      let shade: number;
      if (inHead) {
        // Hex head seen from the side: three flats, the middle one facing the camera.
        const across = Math.abs(v) / bolt.headHy;
        shade = across < 0.5 ? 1.15 : 0.8;
      } else {
        // Cylinder: a highlight line along the shank, darker towards the silhouette, threads.
        const across = v / bolt.shankHy;
        shade = 0.75 + 0.9 * Math.exp(-((across - highlightAt) ** 2) / 0.06) - 0.25 * across * across;
        if (u > bolt.threadFrom) shade *= 0.72 + 0.28 * Math.sin((2 * Math.PI * (u + 0.25 * v)) / bolt.pitch);
      }
      const val = metal * shade;
      for (let c = 0; c < 3; c++) {
        const paper = img[o + c] * (1 - shadow);
        img[o + c] = paper * (1 - cover) + val * (c === 2 ? 1.05 : 1) * cover;
      }
    }
  }

  // Sensor noise, approximately Gaussian: the sum of the four bytes of one random 32-bit word
  // (mean 510, sd ≈ 147.8), one draw per sample to keep this loop cheap.
  const sigma = between(rng, [1.5, 5]);
  const scale = sigma / 147.8;
  const out = new Uint8Array(img.length);
  // A mulberry32 stream seeded from the image's rng, inlined: a closure call per sample was 5× slower.
  let state = Math.floor(rng() * 2 ** 32) | 0;
  for (let i = 0; i < img.length; i++) {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const w = t ^ (t >>> 14);
    const bytes = (w & 255) + ((w >>> 8) & 255) + ((w >>> 16) & 255) + ((w >>> 24) & 255);
    const v = img[i] + (bytes - 510) * scale;
    out[i] = v <= 0 ? 0 : v >= 255 ? 255 : (v + 0.5) | 0;
  }
  return { data: out, blur: between(rng, [0, 1.3]), quality: Math.round(between(rng, [62, 92])) };
}

async function encodeJpeg(cls: DemoClass, key: string, width: number, height: number): Promise<Buffer> {
  const r = renderDemoImage(cls, makeRng(key), width, height);
  let img = sharp(Buffer.from(r.data.buffer, r.data.byteOffset, r.data.length), { raw: { width, height, channels: 3 } });
  // sharp's Gaussian blur needs sigma >= 0.3; below that the image stays sharp.
  if (r.blur >= 0.3) img = img.blur(r.blur);
  return img.jpeg({ quality: r.quality }).toBuffer();
}

async function readMarker(dir: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path.join(dir, MARKER), 'utf8'));
  } catch {
    return null;
  }
}

/**
 * Writes the embedded demo dataset to <outDir>/{train,test}/{big,small}/*.jpg, deterministic from
 * the seed (each image draws from its own stream keyed by seed, split, class and number).
 * Atomic (temp folder + rename) and idempotent: a folder made with the same settings is kept as is.
 * Refuses to replace a folder it did not create.
 */
export async function generateDemoDataset(outDir: string, opts: DemoOptions = {}): Promise<{ root: string; classes: string[]; count: number }> {
  const seed = opts.seed ?? 1;
  const width = opts.width ?? 640;
  const height = opts.height ?? 480;
  for (const [k, v] of Object.entries({ width, height })) {
    if (!Number.isInteger(v) || v < 32 || v > 8192) throw new RangeError(`demo ${k} must be an integer in [32, 8192], got ${v}`);
  }
  for (const [k, v] of Object.entries({ trainPerClass: opts.trainPerClass, testPerClass: opts.testPerClass })) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new RangeError(`demo ${k} must be a positive integer, got ${v}`);
  }
  const counts = Object.fromEntries(
    DEMO_CLASSES.map((c) => [c, { train: opts.trainPerClass ?? DEFAULT_COUNTS[c].train, test: opts.testPerClass ?? DEFAULT_COUNTS[c].test }]),
  ) as Record<DemoClass, { train: number; test: number }>;
  const marker = { generator: '@parts/data demo', version: GENERATOR_VERSION, seed, width, height, counts };
  const markerText = JSON.stringify(marker, null, 2) + '\n';
  const root = path.resolve(outDir);
  const count = DEMO_CLASSES.reduce((n, c) => n + counts[c].train + counts[c].test, 0);
  const result = { root, classes: [...DEMO_CLASSES], count };

  const sameAsWanted = async () => JSON.stringify(await readMarker(root)) === JSON.stringify(marker);
  if (existsSync(root)) {
    if (await sameAsWanted()) return result;
    const hasMarker = (await readMarker(root)) !== null;
    const empty = (await readdir(root)).length === 0;
    if (!hasMarker && !empty) throw new Error(`refusing to overwrite ${root}: it is not a generated demo dataset (no ${MARKER})`);
  }

  const parent = path.dirname(root);
  await mkdir(parent, { recursive: true });
  const tag = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const tmp = path.join(parent, `.tmp-${path.basename(root)}-${tag}`);
  try {
    const jobs: { file: string; cls: DemoClass; key: string }[] = [];
    for (const split of ['train', 'test'] as const) {
      for (const cls of DEMO_CLASSES) {
        await mkdir(path.join(tmp, split, cls), { recursive: true });
        for (let i = 0; i < counts[cls][split]; i++) {
          const name = `${cls}_${String(i + 1).padStart(3, '0')}.jpg`;
          jobs.push({ file: path.join(tmp, split, cls, name), cls, key: `demo:${seed}:${split}:${cls}:${i}` });
        }
      }
    }
    await mapLimit(jobs, 4, async (j) => writeFile(j.file, await encodeJpeg(j.cls, j.key, width, height)));
    // The marker goes in last: a folder without it was never finished.
    await writeFile(path.join(tmp, MARKER), markerText);

    if (existsSync(root)) {
      const old = path.join(parent, `.tmp-${path.basename(root)}-old-${tag}`);
      await rename(root, old);
      await rename(tmp, root);
      await rm(old, { recursive: true, force: true });
    } else {
      try {
        await rename(tmp, root);
      } catch (e) {
        // Another process finished the same dataset first: theirs is as good as ours.
        const code = (e as NodeJS.ErrnoException).code;
        if ((code === 'ENOTEMPTY' || code === 'EEXIST') && (await sameAsWanted())) return result;
        throw e;
      }
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return result;
}
