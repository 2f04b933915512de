// What a model slot (worker thread or main thread) does with a batch: the prediction contract for
// every image and, for requests that ask, an explanation overlay (DEFAULT_CAM_METHOD) of the top class per image.
import { DEFAULT_CAM_METHOD, decideRows, detectorShapes, explainPhoto, gradCamLayer, overlayDataUrl, type CamMethod, type OodDecision, type Predictor } from '@parts/models';
import type { RawImage } from '@parts/data';

/** The original upload bytes of every image of a job whose request asked for explanations. */
export interface ExplainRequest {
  bytes: Uint8Array[];
  /** Largest side of the overlay (the photo is downscaled to it). */
  maxSide: number;
  maxPixels: number;
}

/** `explanation` of a predict answer: the overlay as a PNG data URL, or why there is none. */
export type ServedExplanation = { method: CamMethod; layer: string; overlay: string } | { method: CamMethod; error: string };

export interface SlotOutput {
  predictions: OodDecision[];
  /**
   * The model's own probabilities per image in label order (T = 1, no detector): what promotion's
   * parity record holds, so the parity check compares the model, its decoding and the backend.
   */
  modelProbabilities: number[][];
  /** One per image when explain was given. */
  explanations?: ServedExplanation[];
}

export async function decideAndExplain(p: Predictor, images: RawImage[], explain?: ExplainRequest): Promise<SlotOutput> {
  const { labels } = p.meta;
  const rows = images.length ? await p.featuresAndLogits(images) : null;
  const predictions = rows ? decideRows(rows, labels, p.detector, undefined, detectorShapes(p.detector, images)) : [];
  const modelProbabilities = rows ? decideRows(rows, labels, null).map((d) => labels.map((l) => d.probabilities[l]!)) : [];
  if (!explain) return { predictions, modelProbabilities };
  const { meta } = p;
  // Grad-CAM needs gradients: always the tfjs model (loaded on first use when ONNX Runtime predicts).
  const explanations: ServedExplanation[] = [];
  for (const [i, bytes] of explain.bytes.entries()) {
    try {
      const layer = gradCamLayer(meta.arch);
      const e = await explainPhoto(await p.tfjsClassifier(), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
        classIndex: meta.labels.indexOf(predictions[i]!.top),
        layer,
        maxSide: explain.maxSide,
        maxPixels: explain.maxPixels,
      });
      explanations.push({ method: e.method, layer: e.layer, overlay: await overlayDataUrl(e) });
    } catch (err) {
      explanations.push({ method: DEFAULT_CAM_METHOD, error: (err as Error).message });
    }
  }
  return { predictions, modelProbabilities, explanations };
}
