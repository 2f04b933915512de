// Evaluating one run: predictions on a dataset split → metrics → <run>/evaluation.json (the run's
// own test split), evaluation-<split>-changed-since-training.json (its training dataset after its
// photos changed) or evaluation-<split>[-<dataset>].json (anything else; see evaluationFileName).
// evaluatePredictions is pure (tests call it without a model); evaluateRun adds model and data I/O.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { decodeImage, listDataset } from '@parts/data';
import type { RawImage, SplitName } from '@parts/data';
import { chooseEngine, disposeClassifier, exportOnnx, loadClassifier, OnnxForward, outputsToProbabilities, predictProbabilities, type EngineRequest } from '@parts/models';
import { CHANGED_TEST_EVALUATION_JSON, EVALUATION_FORMAT, EVALUATION_JSON, evaluatePredictions, evaluationFileName } from './evaluation-record';
import type { Evaluation, LabelledProbabilities } from './evaluation-record';
import { dirSize, samePath, writeJsonAtomic } from './fsutil';
import { datasetChangesSinceTraining, readRun, runListOptions } from '@parts/train';
import { gradCamGallery, type GradCamGallery } from './gradcam-gallery';
import { evaluateOodAndCalibration, type CalibrationEvaluation, type OodEvaluation } from './ood-evaluation';
import { robustnessForEvaluation, type RobustnessPreset } from './robustness-budget';

export * from './evaluation-record';

export interface EvaluateRunOptions {
  /** Dataset root; default: the root the run was trained on (config.json data.root). */
  data?: string;
  split?: SplitName;
  /** Images decoded and predicted at a time (bounds memory at large input sizes). */
  batchSize?: number;
  log?: (msg: string) => void;
  /** Robustness grid: 'quick' (default; 8 shifts × 2 levels on ≤ 8 photos), 'full' or 'off'. */
  robustness?: RobustnessPreset;
  /** Grad-CAM overlays of the misclassified photos and one correct photo per class (default true). */
  gradcam?: boolean;
  /**
   * Where the class probabilities are computed: 'onnx' (ONNX Runtime, the model exported in memory),
   * 'tfjs', or 'auto' (ONNX Runtime where it loads). Default 'tfjs'. Unknown detection, calibration,
   * robustness and Grad-CAM use the tfjs model either way.
   */
  engine?: EngineRequest;
}

/**
 * Evaluates a run folder on a dataset split and writes the result atomically into the run folder:
 * evaluation.json only for the test split of the run's own training dataset as it was at training,
 * otherwise evaluation-<split>.json, evaluation-<split>-changed-since-training.json or
 * evaluation-<split>-<dataset>.json, so the file that promotion and the accuracy gate read is never
 * replaced by another split or dataset (and readEvaluation refuses it while a later evaluation found
 * the dataset changed).
 * Needs an initialised tfjs backend (initBackend from @parts/backend).
 */
export async function evaluateRun(runDir: string, opts: EvaluateRunOptions = {}): Promise<Evaluation> {
  const split = opts.split ?? 'test';
  const batchSize = opts.batchSize ?? 32;
  const run = await readRun(runDir);
  const trainedOn = run.config?.data?.root;
  const dataRoot = opts.data ? path.resolve(opts.data) : trainedOn;
  if (!dataRoot) throw new Error(`${runDir}: no --data given and config.json has no data.root to default to`);
  const sameAsTraining = !!trainedOn && (await samePath(trainedOn, dataRoot));

  const classifier = await loadClassifier(runDir);
  let onnx: OnnxForward | null = null;
  try {
    const { meta } = classifier;
    const choice = await chooseEngine(opts.engine ?? 'tfjs', { backend: tf.getBackend() });
    if (choice.name === 'onnx') onnx = await OnnxForward.create(choice.ort, exportOnnx(classifier.model, meta), meta);
    opts.log?.(`  engine: ${onnx ? `ONNX Runtime (${onnx.threads} threads)` : `tfjs ${tf.getBackend()}`}: ${choice.reason}`);
    // The same listing options as training, so a generated (seeded) test split is the same images.
    const index = await listDataset(dataRoot, runListOptions(run.config));
    // Photos added or removed since training: the splits are no longer the run's own.
    const changed = sameAsTraining ? await datasetChangesSinceTraining(index, run.config) : [];
    for (const line of changed) opts.log?.(`  dataset changed since training: ${line}`);
    const samples = index.splits[split];
    if (!samples || samples.length === 0) throw new Error(`${dataRoot}: the '${split}' split has no images`);
    const items: LabelledProbabilities[] = [];
    const decoded: RawImage[] = [];
    for (let start = 0; start < samples.length; start += batchSize) {
      const chunk = samples.slice(start, start + batchSize);
      const images = await Promise.all(chunk.map((s) => decodeImage(s.file, { size: meta.imgSize, fit: meta.fit })));
      decoded.push(...images);
      const probs = onnx ? outputsToProbabilities(await onnx.modelOutputs(images), images.length, meta) : await predictProbabilities(classifier, images);
      chunk.forEach((s, i) => items.push({ file: s.file, trueLabel: index.classes[s.label], probabilities: probs[i] }));
      opts.log?.(`  ${Math.min(start + batchSize, samples.length)}/${samples.length} images`);
    }
    const result = evaluatePredictions(meta.labels, items);
    const fileName = evaluationFileName(split, dataRoot, sameAsTraining, changed.length > 0);

    // Labels as the model numbers them (the dataset's classes may be listed differently).
    const modelLabel = new Map(meta.labels.map((l, i) => [l, i]));
    const labels = samples.map((s) => modelLabel.get(index.classes[s.label])!);
    let ood: OodEvaluation;
    let calibration: CalibrationEvaluation | null = null;
    try {
      ({ ood, calibration } = await evaluateOodAndCalibration(classifier, { images: decoded, labels, files: samples.map((s) => s.file) }, { batchSize }));
    } catch (e) {
      ood = { status: 'error', reason: (e as Error).message };
    }
    decoded.length = 0;

    const preset = opts.robustness ?? 'quick';
    const rob = await robustnessForEvaluation(classifier, samples.map((s, i) => ({ file: s.file, label: labels[i] })), preset);
    if (rob) opts.log?.(`  robustness (${preset}): ${rob.summary.forwardPasses} passes on ${rob.summary.photos}/${rob.summary.of} photos in ${rob.summary.seconds.toFixed(1)}s`);

    let gradcam: GradCamGallery | null = null;
    if (opts.gradcam !== false) {
      const t0 = performance.now();
      try {
        gradcam = await gradCamGallery(classifier, result.predictions, runDir, fileName.replace(/\.json$/, '-gradcam'));
        opts.log?.(`  Grad-CAM: ${gradcam.items.length} overlays in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
      } catch (e) {
        // Explanations are report material: an architecture without a Grad-CAM layer still gets its metrics.
        opts.log?.(`  no Grad-CAM: ${(e as Error).message}`);
      }
    }
    const evaluation: Evaluation = {
      format: EVALUATION_FORMAT,
      runId: run.runId,
      runDir: path.resolve(runDir),
      arch: meta.arch,
      mode: meta.mode,
      split,
      data: {
        root: dataRoot,
        sameAsTraining,
        ...(changed.length ? { changed } : {}),
        training: { root: trainedOn, fingerprint: run.config?.data?.fingerprint },
      },
      imgSize: meta.imgSize,
      fit: meta.fit,
      preprocess: meta.preprocess,
      modelBytes: await dirSize(classifier.dir),
      backend: tf.getBackend(),
      evaluatedAt: new Date().toISOString(),
      ...result,
      ood,
      calibration,
      robustness: rob?.rows ?? [],
      robustnessSummary: rob?.summary ?? null,
      gradcam,
    };
    await writeJsonAtomic(path.join(runDir, fileName), evaluation);
    // The dataset is the run's again: an evaluation that found it changed no longer holds.
    if (fileName === EVALUATION_JSON) await fs.rm(path.join(runDir, CHANGED_TEST_EVALUATION_JSON), { force: true });
    return evaluation;
  } finally {
    await onnx?.release();
    disposeClassifier(classifier);
  }
}
