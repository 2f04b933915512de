// Thumbnails of the misclassified images, so a person can see *what* the model gets wrong.
import sharp from 'sharp';
import type { ImagePrediction } from './evaluation-record';

export interface GalleryItem {
  file: string;
  true: string;
  predicted: string;
  /** Probability the model gave its (wrong) prediction. */
  probability: number;
  /** Probability it gave the true class. */
  trueProbability: number;
  /** JPEG bytes; absent when the image could not be read (then `error` says why). */
  jpeg?: Buffer;
  error?: string;
}

export interface GalleryOptions {
  /** Longest side of a thumbnail in pixels. */
  size?: number;
  /** At most this many images, the most confident mistakes first. */
  max?: number;
}

export async function misclassifiedGallery(predictions: ImagePrediction[], opts: GalleryOptions = {}): Promise<GalleryItem[]> {
  const size = opts.size ?? 160;
  const max = opts.max ?? 48;
  const wrong = predictions
    .filter((p) => p.predicted !== p.true)
    .map((p) => ({
      file: p.file,
      true: p.true,
      predicted: p.predicted,
      probability: p.probabilities[p.predicted] ?? NaN,
      trueProbability: p.probabilities[p.true] ?? NaN,
    }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, max);
  const items: GalleryItem[] = [];
  for (const w of wrong) {
    try {
      // rotate() applies EXIF orientation, as the training decoder does.
      const jpeg = await sharp(w.file).rotate().resize(size, size, { fit: 'inside' }).flatten({ background: '#ffffff' }).jpeg({ quality: 80 }).toBuffer();
      items.push({ ...w, jpeg });
    } catch (e) {
      items.push({ ...w, error: `cannot make a thumbnail of ${w.file}: ${(e as Error).message}` });
    }
  }
  return items;
}
