// `pnpm predict`: classify files with a saved model (the promoted one by default).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import fg from 'fast-glob';
import { decodeImage } from '@parts/data';
import { classify, type Classifier } from '@parts/models';

export interface FilePrediction {
  file: string;
  label?: string;
  probabilities?: Record<string, number>;
  error?: string;
}

const IMAGE_GLOB = '**/*.{jpg,jpeg,png,webp,JPG,JPEG,PNG,WEBP,Jpg,Jpeg,Png,Webp}';

/** Expands folders to the images inside them (sorted); files are kept as given. */
export async function expandInputs(inputs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const input of inputs) {
    const abs = path.resolve(input);
    const st = await fs.stat(abs).catch(() => null);
    if (st?.isDirectory()) {
      const found = await fg(IMAGE_GLOB, { cwd: abs, absolute: true, caseSensitiveMatch: false, onlyFiles: true });
      out.push(...found.sort());
    } else {
      out.push(abs); // a missing file is reported by predictFiles, per file
    }
  }
  return out;
}

/** One result per file, in order; a file that cannot be read or decoded gets `error` and the rest go on. */
export async function* predictFiles(c: Classifier, files: string[], batchSize = 8): AsyncGenerator<FilePrediction> {
  for (let i = 0; i < files.length; i += batchSize) {
    const chunk = files.slice(i, i + batchSize);
    const decoded = await Promise.all(
      chunk.map((file) =>
        decodeImage(file, { size: c.meta.imgSize, fit: c.meta.fit }).then(
          (img) => ({ file, img }),
          (e: Error) => ({ file, error: e.message }),
        ),
      ),
    );
    const good = decoded.filter((d): d is { file: string; img: Awaited<ReturnType<typeof decodeImage>> } => 'img' in d);
    const preds = await classify(c, good.map((g) => g.img));
    const byFile = new Map(good.map((g, j) => [g.file, preds[j]]));
    for (const d of decoded) {
      if ('error' in d) yield { file: d.file, error: d.error };
      else yield { file: d.file, ...byFile.get(d.file)! };
    }
  }
}
