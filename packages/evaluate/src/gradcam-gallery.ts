// Grad-CAM overlays for the report: every misclassified photo (the most confident mistakes first, up
// to a cap) and one correctly classified photo per class, each explaining the PREDICTED class at
// the architecture's Grad-CAM layer. The overlays (PNG, longest side `maxSide`) are written into a
// folder of the run beside its evaluation file; the evaluation records their relative paths.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { explainPhoto, gradCamLayer, GRADCAM_METHOD, overlayPng, writeFileAtomic, type Classifier } from '@parts/models';
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
  error?: string;
}

export interface GradCamGallery {
  method: typeof GRADCAM_METHOD;
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
        const e = await explainPhoto(c, await fs.readFile(p.file), { maxSide: opts.maxSide ?? 256, name: p.file, layer });
        const name = `${String(i + 1).padStart(3, '0')}-${p.correct ? 'correct' : 'wrong'}.png`;
        await writeFileAtomic(path.join(tmp, name), await overlayPng(e));
        item.overlay = `${folder}/${name}`;
        item.hasEvidence = e.hasEvidence;
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
  return { method: GRADCAM_METHOD, layer, leftOut: wrong.length - Math.min(wrong.length, maxWrong), items };
}
