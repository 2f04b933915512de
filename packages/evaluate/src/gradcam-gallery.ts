// Explanation overlays for the report (DEFAULT_CAM_METHOD at the architecture's Grad-CAM layer):
// every misclassified photo (the most confident mistakes first, up to a cap) and one correctly
// classified photo per class, each explaining the PREDICTED class. Each item also gets its map's
// darkness focus (darknessFocus: > 1 when the heat lies on the photo's dark pixels, the part on
// photos of dark parts on light paper), summed up in the report as the "explanation focus". The overlays (PNG, longest side `maxSide`) are written into a
// folder of the run beside its evaluation file; the evaluation records their relative paths.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { darknessFocus, DARKNESS_FOCUS_MIN, DEFAULT_CAM_METHOD, explainPhoto, gradCamLayer, overlayPng, writeFileAtomic, type CamMethod, type Classifier } from '@parts/models';
import type { ImagePrediction } from './evaluation-record';

export interface GradCamItem {
  file: string;
  true: string;
  predicted: string;
  correct: boolean;
  /** Probability of the predicted class. */
  probability: number;
  /** Overlay PNG, relative to the run folder; absent when the photo could not be explained (`error`). */
  overlay?: string;
  /** False: ReLU left no positive evidence for the predicted class; the map is all zero. */
  hasEvidence?: boolean;
  /** Darkness focus of the map on the overlay's photo (null: no evidence). */
  focus?: number | null;
  error?: string;
}

export interface GradCamGallery {
  method: CamMethod;
  layer: string;
  /** Misclassified photos not explained because of the cap. */
  leftOut: number;
  items: GradCamItem[];
}

export interface GradCamGalleryOptions {
  /** At most this many misclassified photos (default 24). */
  maxWrong?: number;
  /** Longest side of an overlay in pixels (default 256). */
  maxSide?: number;
}

/**
 * Explains the chosen photos of `predictions` and writes their overlays into `runDir/folder`
 * (replaced as a whole: built beside it and renamed). Needs the classifier that made the predictions.
 */
export async function gradCamGallery(
  c: Classifier,
  predictions: ImagePrediction[],
  runDir: string,
  folder: string,
  opts: GradCamGalleryOptions = {},
): Promise<GradCamGallery> {
  const layer = gradCamLayer(c.meta.arch);
  const wrong = predictions.filter((p) => !p.correct).sort((a, b) => (b.probabilities[b.predicted] ?? 0) - (a.probabilities[a.predicted] ?? 0));
  const maxWrong = opts.maxWrong ?? 24;
  const chosen = wrong.slice(0, maxWrong);
  for (const label of c.meta.labels) {
    const right = predictions.find((p) => p.correct && p.true === label);
    if (right) chosen.push(right);
  }
  const target = path.join(runDir, folder);
  const tmp = `${target}.tmp-${process.pid}`;
  await fs.rm(tmp, { recursive: true, force: true });
  await fs.mkdir(tmp, { recursive: true });
  const items: GradCamItem[] = [];
  try {
    for (const [i, p] of chosen.entries()) {
      const item: GradCamItem = { file: p.file, true: p.true, predicted: p.predicted, correct: p.correct, probability: p.probabilities[p.predicted] ?? NaN };
      try {
        const e = await explainPhoto(c, await fs.readFile(p.file), { maxSide: opts.maxSide ?? 256, name: p.file, layer, method: DEFAULT_CAM_METHOD });
        const name = `${String(i + 1).padStart(3, '0')}-${p.correct ? 'correct' : 'wrong'}.png`;
        await writeFileAtomic(path.join(tmp, name), await overlayPng(e));
        item.overlay = `${folder}/${name}`;
        item.hasEvidence = e.hasEvidence;
        const focus = darknessFocus(e.heatmap, e.photo);
        item.focus = Number.isFinite(focus) ? focus : null;
      } catch (err) {
        item.error = `Grad-CAM of ${p.file} failed: ${(err as Error).message}`;
      }
      items.push(item);
    }
    await fs.rm(target, { recursive: true, force: true });
    await fs.rename(tmp, target);
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return { method: DEFAULT_CAM_METHOD, layer, leftOut: wrong.length - Math.min(wrong.length, maxWrong), items };
}

/** Explanation focus of a gallery: how many maps with evidence reach DARKNESS_FOCUS_MIN, and the median. */
export function explanationFocus(g: Pick<GradCamGallery, 'items'>): { n: number; onPart: number; median: number | null; min: number } {
  const v = g.items.map((i) => i.focus).filter((f): f is number => typeof f === 'number').sort((a, b) => a - b);
  return { n: v.length, onPart: v.filter((f) => f >= DARKNESS_FOCUS_MIN).length, median: v.length ? v[(v.length - 1) >> 1] : null, min: DARKNESS_FOCUS_MIN };
}

/** One sentence for the report. */
export function explanationFocusText(g: Pick<GradCamGallery, 'items'>): string {
  const f = explanationFocus(g);
  if (!f.n) return 'Explanation focus: no map with evidence.';
  return `Explanation focus: ${f.onPart} of ${f.n} maps weight the photo's dark pixels (the part, on dark parts photographed on light paper) at >= ${f.min}x its mean darkness (median ${f.median!.toFixed(2)}x; 1 = a map that ignores darkness).`;
}
