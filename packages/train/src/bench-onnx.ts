/**
 * The forward pass of an architecture on ONNX Runtime, for `pnpm bench --backend onnx`: the model is
 * built (seeded, random weights) on the tfjs backend in use, exported with exportOnnx and run with
 * the session options predict and serve use (every core, no spinning), on random uint8 images.
 */
import { buildClassifier, exportOnnx, loadOnnxRuntime, onnxSessionOptions, type ClassifierMeta } from '@parts/models';
import type { BenchRecord } from './bench';

export async function benchOnnxForward(o: { arch: string; imgSize: number; batch: number; minSeconds: number; threads?: number }): Promise<BenchRecord> {
  const rt = await loadOnnxRuntime();
  if (!rt.ok) throw new Error(rt.reason);
  const built = buildClassifier({ arch: o.arch, mode: 'scratch', imgSize: o.imgSize, numClasses: 2, seed: 1 });
  const meta: ClassifierMeta = { format: 'parts-classifier/1', arch: o.arch, mode: 'scratch', labels: ['a', 'b'], imgSize: o.imgSize, fit: 'cover', preprocess: built.meta.preprocess, outputActivation: built.meta.outputActivation };
  const bytes = exportOnnx(built.model, meta);
  built.model.dispose();
  const options = onnxSessionOptions(o.threads);
  const session = await rt.ort.InferenceSession.create(bytes, options);
  try {
    const s = o.imgSize;
    const data = Uint8Array.from({ length: o.batch * s * s * 3 }, (_, i) => (i * 2654435761) >>> 24);
    const feeds = { image: new rt.ort.Tensor('uint8', data, [o.batch, s, s, 3]) };
    await session.run(feeds, ['probabilities']); // warm-up
    let iters = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < o.minSeconds * 1000 || iters < 3) {
      await session.run(feeds, ['probabilities']);
      iters++;
    }
    const sec = (performance.now() - t0) / 1000;
    return { backend: `onnxruntime (${options.intraOpNumThreads} threads)`, model: o.arch, phase: 'forward', imgSize: s, batch: o.batch, imagesPerSec: (iters * o.batch) / sec, gflopsPerSec: null };
  } finally {
    await session.release();
  }
}
