/**
 * The forward pass of an exported classifier on ONNX Runtime: images at the model's size in,
 * the same FeaturesAndLogits the tfjs path computes (computeFeaturesAndLogits) out, so decisions,
 * unknown detection and parity are computed by the same code on both engines.
 */
import { normaliseLight, type RawImage } from '@parts/data';
import type { ClassifierMeta } from '../types';
import type { FeaturesAndLogits } from '../ood/features';
import { onnxClassifierMeta } from './export-onnx';
import { onnxSessionOptions, type OrtModule } from './onnx-runtime';
import type * as Ort from 'onnxruntime-node';

export class OnnxForward {
  private constructor(
    private readonly ort: OrtModule,
    private readonly session: Ort.InferenceSession,
    readonly meta: ClassifierMeta,
    readonly featureDim: number,
    /** Units of the prediction layer (1 for the sigmoid head). */
    readonly units: number,
    readonly threads: number,
  ) {}

  /**
   * A session on the model's bytes. `expect` is the classifier.json of the folder: the file must
   * have been exported from a model with the same labels, size, fit and preprocessing.
   */
  static async create(ort: OrtModule, bytes: Uint8Array, expect: ClassifierMeta, opts: { threads?: number; file?: string } = {}): Promise<OnnxForward> {
    const where = opts.file ?? 'the ONNX model';
    const meta = onnxClassifierMeta(bytes);
    if (!meta) throw new Error(`${where}: no classifier metadata (parts.classifier); export it with pnpm export --format onnx`);
    for (const k of ['labels', 'imgSize', 'fit', 'preprocess', 'lightNorm', 'outputActivation'] as const) {
      if (JSON.stringify(meta[k]) !== JSON.stringify(expect[k])) throw new Error(`${where}: ${k} ${JSON.stringify(meta[k])} differs from classifier.json's ${JSON.stringify(expect[k])}; export the model again`);
    }
    const options = onnxSessionOptions(opts.threads);
    const session = await ort.InferenceSession.create(bytes, options);
    try {
      const s = expect.imgSize;
      const probe = await session.run({ image: new ort.Tensor('uint8', new Uint8Array(s * s * 3), [1, s, s, 3]) });
      const featureDim = probe.features.dims[1] as number;
      const units = probe.logits.dims[1] as number;
      const expected = expect.outputActivation === 'sigmoid' ? 1 : expect.labels.length;
      if (units !== expected) throw new Error(`${where}: ${units} logits, classifier.json expects ${expected}`);
      return new OnnxForward(ort, session, expect, featureDim, units, options.intraOpNumThreads!);
    } catch (e) {
      await session.release();
      throw e;
    }
  }

  /** Class logits per image: the 1-unit sigmoid head's z becomes [0, z], as logitsFromFeatures does. */
  get numClasses(): number {
    return this.units === 1 ? 2 : this.units;
  }

  /** Features and logits of images at the model's size, `batchSize` images per run. */
  async featuresAndLogits(images: readonly RawImage[], batchSize = 16): Promise<FeaturesAndLogits> {
    const n = images.length;
    const s = this.meta.imgSize;
    const px = s * s * 3;
    const features = new Float32Array(n * this.featureDim);
    const logits = new Float32Array(n * this.numClasses);
    for (let start = 0; start < n; start += batchSize) {
      const chunk = images.slice(start, start + batchSize);
      const input = new Uint8Array(chunk.length * px);
      chunk.forEach((img, i) => {
        if (img.width !== s || img.height !== s || img.data.length !== px) throw new Error(`image ${start + i} is ${img.width}x${img.height}, the model takes ${s}x${s} RGB`);
        input.set(normaliseLight(img, this.meta.lightNorm).data, i * px);
      });
      const out = await this.session.run({ image: new this.ort.Tensor('uint8', input, [chunk.length, s, s, 3]) }, ['features', 'logits']);
      features.set(out.features.data as Float32Array, start * this.featureDim);
      const z = out.logits.data as Float32Array;
      if (this.units === 1) chunk.forEach((_, i) => (logits[(start + i) * 2 + 1] = z[i]));
      else logits.set(z, start * this.units);
      out.features.dispose();
      out.logits.dispose();
    }
    return { features, logits, n, featureDim: this.featureDim, numClasses: this.numClasses };
  }

  /** The model's own output (Keras' model.predict) for images at the model's size. */
  async modelOutputs(images: readonly RawImage[]): Promise<Float32Array> {
    const s = this.meta.imgSize;
    const input = new Uint8Array(images.length * s * s * 3);
    images.forEach((img, i) => input.set(normaliseLight(img, this.meta.lightNorm).data, i * s * s * 3));
    const out = await this.session.run({ image: new this.ort.Tensor('uint8', input, [images.length, s, s, 3]) }, ['probabilities']);
    const p = Float32Array.from(out.probabilities.data as Float32Array);
    out.probabilities.dispose();
    return p;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
