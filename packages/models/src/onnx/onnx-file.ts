/**
 * model.onnx in a model folder (this module is its one owner): `pnpm export --format onnx` writes
 * it; predict, evaluate and serve run it on ONNX Runtime. Before writing, the export is checked
 * against the model's parity record (parity.json, the probabilities recorded on the tfjs model at
 * promotion): the recorded photos are decoded as serve decodes an upload, run through the exported
 * graph on ONNX Runtime, and must agree within the record's tolerance. Without a record the check
 * compares with the tfjs model itself on a few generated images.
 */
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { decodeImage, type RawImage } from '@parts/data';
import { disposeClassifier, loadClassifier, outputsToProbabilities, predictProbabilities } from '../classifier';
import { checkParityWith, readParity, type ParityCheck } from '../explain/parity';
import { writeFileAtomic } from '../model-files';
import { exportOnnx } from './export-onnx';
import { OnnxForward } from './onnx-forward';
import { loadOnnxRuntime } from './onnx-runtime';

export const MODEL_ONNX = 'model.onnx';

export interface OnnxExportReport {
  file: string;
  bytes: number;
  /** The check on the parity photos (null: ONNX Runtime unavailable, so not checked). */
  parity: ParityCheck | null;
  /** What the export was checked against. */
  checkedAgainst: 'parity record' | 'tfjs model (no parity record)' | 'not checked';
  note?: string;
}

/** Exports the classifier of `modelDir` to `out` (default <modelDir>/model.onnx), checked first (see above). */
export async function exportOnnxFile(modelDir: string, opts: { out?: string } = {}): Promise<OnnxExportReport> {
  const c = await loadClassifier(modelDir);
  const out = path.resolve(opts.out ?? path.join(c.dir, MODEL_ONNX));
  try {
    const bytes = exportOnnx(c.model, c.meta);
    const rt = await loadOnnxRuntime();
    if (!rt.ok) {
      await writeFileAtomic(out, Buffer.from(bytes));
      return { file: out, bytes: bytes.length, parity: null, checkedAgainst: 'not checked', note: `not checked on ONNX Runtime: ${rt.reason}` };
    }
    const forward = await OnnxForward.create(rt.ort, bytes, c.meta, { file: out });
    try {
      const classify = async (images: RawImage[]) => {
        const rows: Float32Array[] = [];
        for (const im of images) rows.push(...outputsToProbabilities(await forward.modelOutputs([im]), 1, c.meta));
        return rows;
      };
      const read = await readParity(c.dir);
      let parity: ParityCheck;
      let checkedAgainst: OnnxExportReport['checkedAgainst'];
      if (read) {
        parity = await checkParityWith(read.record, read.photos, {
          meta: c.meta,
          backend: 'onnxruntime',
          classify: async (photos) => classify(await Promise.all(photos.map((p) => decodeImage(p.bytes, { size: c.meta.imgSize, fit: c.meta.fit, name: p.name })))),
        });
        checkedAgainst = 'parity record';
      } else {
        parity = await compareWithTfjs(c, classify);
        checkedAgainst = 'tfjs model (no parity record)';
      }
      if (!parity.ok) throw new Error(`the ONNX export of ${c.dir} does not answer like the model: ${parity.reason}; nothing written`);
      await writeFileAtomic(out, Buffer.from(bytes));
      return { file: out, bytes: bytes.length, parity, checkedAgainst };
    } finally {
      await forward.release();
    }
  } finally {
    disposeClassifier(c);
  }
}

/** Without a parity record: generated images through tfjs and through the export. */
async function compareWithTfjs(c: Awaited<ReturnType<typeof loadClassifier>>, classify: (images: RawImage[]) => Promise<Float32Array[]>): Promise<ParityCheck> {
  const s = c.meta.imgSize;
  const images: RawImage[] = [0, 1, 2, 3].map((k) => ({ data: Uint8Array.from({ length: s * s * 3 }, (_, i) => (i * (31 + 2 * k) + k * 17) % 256), width: s, height: s }));
  const want = await predictProbabilities(c, images, 1);
  const got = await classify(images);
  let maxAbsDiff = 0;
  want.forEach((row, i) => row.forEach((p, j) => (maxAbsDiff = Math.max(maxAbsDiff, Math.abs(p - got[i][j])))));
  const tolerance = 1e-4;
  const base = { photos: images.length, maxAbsDiff, tolerance, backend: 'onnxruntime', recordBackend: tf.getBackend() };
  return maxAbsDiff <= tolerance ? { ok: true, ...base } : { ok: false, ...base, reason: `probabilities differ from tfjs by ${maxAbsDiff.toExponential(2)}, above ${tolerance}` };
}
