// `pnpm predict`: classify files with a saved model (the promoted one by default), answering with
// the prediction contract (label or unknown, calibrated probabilities, OOD score) and, on request,
// Grad-CAM explanations written next to each other in one folder.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import fg from 'fast-glob';
import { decodeImage } from '@parts/data';
import { explainPhoto, gradCamLayer, predictDecisions, writeExplanationPngs, type OodDecision, type Predictor } from '@parts/models';

/** One line of `pnpm predict --json`: the contract's fields, or `error` for a file that failed. */
export interface FilePrediction extends Partial<OodDecision> {
  file: string;
  /** With explainDir: the explanation files of the top class (DEFAULT_CAM_METHOD) and the layer it was taken at. */
  heatmap?: string;
  overlay?: string;
  layer?: string;
  error?: string;
}

export interface PredictFilesOptions {
  batchSize?: number;
  /** Write `<name>.heatmap.png` and `<name>.overlay.png` per photo into this folder (created). */
  explainDir?: string;
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

/** Explanation file names: the photo's name without extension, `-2`, `-3`... when two photos share it. */
function uniqueNamer(): (file: string) => string {
  const used = new Map<string, number>();
  return (file) => {
    const base = path.basename(file, path.extname(file)) || 'photo';
    const n = (used.get(base) ?? 0) + 1;
    used.set(base, n);
    return n === 1 ? base : `${base}-${n}`;
  };
}

/** One result per file, in order; a file that cannot be read or decoded gets `error` and the rest go on. */
export async function* predictFiles(p: Predictor, files: string[], opts: PredictFilesOptions = {}): AsyncGenerator<FilePrediction> {
  const c = { meta: p.meta };
  const batchSize = opts.batchSize ?? 8;
  const explainDir = opts.explainDir ? path.resolve(opts.explainDir) : undefined;
  const layer = explainDir ? gradCamLayer(c.meta.arch) : undefined;
  if (explainDir) await fs.mkdir(explainDir, { recursive: true });
  const nameOf = uniqueNamer();
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
    const decisions = await predictDecisions(p, good.map((g) => g.img));
    const byFile = new Map(good.map((g, j) => [g.file, decisions[j]!]));
    for (const d of decoded) {
      if ('error' in d) {
        yield { file: d.file, error: d.error };
        continue;
      }
      const decision = byFile.get(d.file)!;
      if (!explainDir) {
        yield { file: d.file, ...decision };
        continue;
      }
      try {
        // Grad-CAM needs gradients: the tfjs model, loaded on first use when ONNX Runtime predicts.
        const e = await explainPhoto(await p.tfjsClassifier(), await fs.readFile(d.file), { classIndex: c.meta.labels.indexOf(decision.top), layer, name: d.file });
        const written = await writeExplanationPngs(e, explainDir, nameOf(d.file));
        yield { file: d.file, ...decision, ...written, layer: e.layer };
      } catch (err) {
        yield { file: d.file, ...decision, error: `explanation failed: ${(err as Error).message}` };
      }
    }
  }
}

/** The text line of one result (not --json): `file  label  p=...`, `file  unknown (closest: X, p)  ...`, or `file  ERROR  why`. */
export function formatPredictionLine(r: FilePrediction): string {
  if (r.error && !r.probabilities) return `${r.file}\tERROR\t${r.error}`;
  const probs = Object.entries(r.probabilities!).map(([k, v]) => `${k}=${v.toFixed(3)}`).join(' ');
  const answer = r.unknown ? `unknown (closest: ${r.top}, ${r.probability!.toFixed(3)})` : `${r.label}`;
  const extra = [r.overlay ? `overlay=${r.overlay}` : '', r.error ? `ERROR ${r.error}` : ''].filter(Boolean).join('\t');
  return `${r.file}\t${answer}\t${probs}${extra ? `\t${extra}` : ''}`;
}
