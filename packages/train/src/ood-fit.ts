// The out-of-distribution detector fitted with every trained model (see docs/ood.md): the scorer on
// the training photos' un-augmented features, the threshold on the validation photos at the accept
// rate, the temperature on the validation logits. Written as ood.json beside the model.
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  computeFeaturesAndLogits,
  defaultOodMethod,
  featureAndLogitModel,
  fitDetector,
  silhouetteFitInput,
  writeOodFile,
  type ClassifierMeta,
  type OodMethod,
} from '@parts/models';
import type { ImageSet } from './image-set';
import type { RunCalibration, RunOodFit } from './run-folder';

export interface OodFitResult {
  /** null when no detector was fitted (no validation photos); `note` says why. */
  ood: RunOodFit | null;
  calibration: RunCalibration | null;
  note?: string;
}

/**
 * Fits the detector of `model` and writes it into `modelDir`. Without validation photos
 * (`--val-split 0`) no threshold can be chosen on photos the model did not train on: nothing is
 * written and `note` says so (a threshold on training scores would accept nearly everything).
 */
export async function fitAndWriteOod(
  model: tfl.LayersModel,
  meta: ClassifierMeta,
  sets: { train: ImageSet; val: ImageSet },
  modelDir: string,
  opts: { arch: string; acceptRate: number; batchSize: number; silhouette?: boolean; trainGroups?: readonly number[] },
): Promise<OodFitResult> {
  if (!sets.val.images.length) {
    return { ood: null, calibration: null, note: 'no ood.json: no validation photos to set the threshold on (--val-split 0)' };
  }
  const t0 = performance.now();
  const method: OodMethod = defaultOodMethod(opts.arch);
  const fl = featureAndLogitModel(model);
  try {
    const rows = async (set: ImageSet) => ({
      ...(await computeFeaturesAndLogits(fl, set.images, meta, opts.batchSize)),
      labels: set.labels,
    });
    const train = await rows(sets.train);
    const val = await rows(sets.val);
    // The shapes come from the same decoded, un-augmented images the features do.
    const silhouette = silhouetteFitInput({ train: sets.train.images, val: sets.val.images }, opts.silhouette !== false, opts.trainGroups);
    const det = fitDetector(train, val, meta.labels, { method, acceptRate: opts.acceptRate, silhouette });
    await writeOodFile(modelDir, det);
    const cal = det.calibration!;
    return {
      ood: {
        method,
        threshold: det.threshold,
        acceptRate: det.acceptRate,
        n: det.fittedOn.n,
        thresholdN: det.fittedOn.thresholdN,
        thresholdRule: det.fittedOn.thresholdRule,
        featureDim: fl.featureDim,
        fitSeconds: (performance.now() - t0) / 1000,
        silhouette: det.silhouette
          ? { threshold: det.silhouette.threshold, acceptRate: det.silhouette.acceptRate, n: det.silhouette.fittedOn.n, thresholdN: det.silhouette.fittedOn.thresholdN }
          : { note: det.silhouetteNote ?? 'no silhouette part' },
      },
      calibration: {
        split: cal.split,
        n: cal.n,
        temperature: det.temperature,
        temperatureAtBound: Boolean(cal.temperatureAtBound),
        eceBefore: cal.eceBefore,
        eceAfter: cal.eceAfter,
        nllBefore: cal.nllBefore,
        nllAfter: cal.nllAfter,
      },
    };
  } finally {
    fl.dispose();
  }
}

/** How a threshold relates to the photos it was chosen on, for the log line. */
function boundNote(o: RunOodFit): string {
  const share = `${(100 * o.acceptRate).toFixed(0)}%`;
  return o.thresholdRule === 'normal bound'
    ? `accepts ${share} by a normal prediction bound on ${o.thresholdN} val photos (too few for a quantile)`
    : `accepts ${share} of ${o.thresholdN} val photos`;
}

/** One log line: method, threshold, n, T, ECE and the seconds the fit took. */
export function formatOodFit(r: OodFitResult): string {
  if (!r.ood || !r.calibration) return r.note ?? 'no ood.json';
  const o = r.ood;
  const c = r.calibration;
  const s = o.silhouette;
  const sil = !s
    ? ''
    : 'note' in s
      ? `; ${s.note}`
      : `; with the silhouette part (threshold ${s.threshold.toPrecision(4)} on ${s.thresholdN} leave-one-out train + val shapes; each part set to accept ${(100 * s.acceptRate).toFixed(1)}%, together ${(100 * o.acceptRate).toFixed(0)}%)`;
  return (
    `ood: ${o.method} scorer on ${o.n} train photos, threshold ${o.threshold.toPrecision(4)} ${boundNote(o)}; ` +
    `temperature ${c.temperature.toFixed(3)}${c.temperatureAtBound ? ' (the fit ran to its search bound: validation does not determine it, kept at 1)' : ''}, val ECE ${c.eceBefore.toFixed(3)} -> ${c.eceAfter.toFixed(3)}; fitted in ${o.fitSeconds.toFixed(2)}s${sil}`
  );
}
