/**
 * Per-photo light normalisation: makes the network's input independent of the lamp instead of
 * teaching the network (and the unknown detector) every lamp.
 *
 * The photos are parts on paper under a lamp. A brighter or dimmer lamp multiplies every channel by
 * one factor; a warm or cold lamp multiplies red and blue by different factors. Both are a gain per
 * channel, and the paper is the white reference in every photo: `paper` divides each channel by its
 * median over the photo (the paper, as long as the part covers less than half of the frame) and
 * multiplies by PAPER_LEVEL, so the paper reads the same neutral grey under any such lamp (a
 * von Kries / white-patch balance on the background). The part keeps its darkness RELATIVE to the
 * paper — its reflectance, which does not depend on the lamp and tells a nut from a bolt — which an
 * affine stretch (darkest pixels to black) would remove. A contrast change (grey haze, glare) is not
 * a gain and is only partly undone.
 *
 * Limits: the gain is clamped to [1 / MAX_LIGHT_GAIN, MAX_LIGHT_GAIN], so a photo darker than half
 * the usual light stays darker (a very dark or blank photo is not brightened into a normal-looking
 * one); letterbox bars (data/src/decode.ts CONTAIN_FILL) are left out of the median and left as they
 * are; pixels that the lamp clipped at 255 cannot be recovered. The result is rounded back to 8 bits
 * so that every engine (tfjs batches, the ONNX graph's uint8 input) sees the same pixels.
 *
 * The model records which normalisation it was trained with (ClassifierMeta.lightNorm; absent =
 * none), and the one place that turns decoded photos into network input applies it, so training,
 * evaluation, predict and serve cannot disagree.
 */
import type { LightNormName } from '@parts/cli';
import { letterboxContent } from './silhouette';
import type { RawImage } from './types';

/** The grey (0-255) each channel's paper median is mapped to: about the paper of the line's photos. */
export const PAPER_LEVEL = 170;
/** The largest factor a channel is brightened (or 1 / it dimmed) by. */
export const MAX_LIGHT_GAIN = 2;

/** Per-channel median of the photo inside any letterbox bars (0-255 integers), or null for an all-bar image. */
export function paperLevels(img: RawImage): [number, number, number] | null {
  checkImage(img);
  const box = letterboxContent(img);
  if (!box) return null;
  const hist = [new Uint32Array(256), new Uint32Array(256), new Uint32Array(256)];
  const { width: w, data } = img;
  for (let y = box.y0; y <= box.y1; y++) {
    for (let x = box.x0; x <= box.x1; x++) {
      const o = (y * w + x) * 3;
      hist[0][data[o]]++;
      hist[1][data[o + 1]]++;
      hist[2][data[o + 2]]++;
    }
  }
  const n = (box.x1 - box.x0 + 1) * (box.y1 - box.y0 + 1);
  const median = (h: Uint32Array) => {
    // The lower median: the smallest level with at least half of the pixels at or below it.
    let seen = 0;
    for (let v = 0; v < 256; v++) if ((seen += h[v]) * 2 >= n) return v;
    return 255;
  };
  return [median(hist[0]), median(hist[1]), median(hist[2])];
}

/** The gain per channel that `paper` applies (each in [1 / MAX_LIGHT_GAIN, MAX_LIGHT_GAIN]). */
export function paperGains(img: RawImage): [number, number, number] {
  const levels = paperLevels(img);
  if (!levels) return [1, 1, 1];
  const g = (m: number) => Math.min(MAX_LIGHT_GAIN, Math.max(1 / MAX_LIGHT_GAIN, PAPER_LEVEL / Math.max(m, 1)));
  return [g(levels[0]), g(levels[1]), g(levels[2])];
}

/**
 * The photo as the network sees it under `norm`: the same object for `none` (or an absent norm,
 * as older models record), else a new image of the same size.
 */
export function normaliseLight(img: RawImage, norm: LightNormName | undefined): RawImage {
  if (norm === undefined || norm === 'none') return img;
  if (norm !== 'paper') throw new RangeError(`light normalisation must be none or paper, got ${JSON.stringify(norm)}`);
  checkImage(img);
  const box = letterboxContent(img);
  if (!box) return img;
  const gains = paperGains(img);
  const { width: w, data } = img;
  const out = data.slice();
  for (let y = box.y0; y <= box.y1; y++) {
    for (let x = box.x0; x <= box.x1; x++) {
      const o = (y * w + x) * 3;
      for (let c = 0; c < 3; c++) {
        const v = Math.round(data[o + c] * gains[c]);
        out[o + c] = v > 255 ? 255 : v;
      }
    }
  }
  return { data: out, width: img.width, height: img.height };
}

function checkImage(img: RawImage): void {
  if (img.data.length !== img.width * img.height * 3) throw new RangeError(`light normalisation: ${img.data.length} bytes for a ${img.width}x${img.height} RGB image`);
}
