// The out-of-distribution detector fitted with every trained model (see docs/ood.md): the scorer on
// the training photos' un-augmented features, the threshold on the validation photos at the accept
// rate, the temperature on the validation logits. Written as ood.json beside the model.
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  ACCEPT_CONFIDENCE,
  computeFeaturesAndLogits,
  defaultOodMethod,
  featureAndLogitModel,
  fitDetector,
  silhouetteFitInput,
  writeOodFile,
  type ClassifierMeta,
  type OodMethod,
} from '@parts/models';
import { LINE_LIGHT_VARIANTS, lineLightVariants, quarterTurnVariants } from '@parts/data';
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
  opts: {
    arch: string;
    acceptRate: number;
    batchSize: number;
    silhouette?: boolean;
    /**
     * Near-duplicate group of each listed photo (DatasetIndex.groupOf): the shape threshold's
     * training scores leave the group out, and the thresholds' confidence bounds count groups.
     */
    groupOf?: ReadonlyMap<string, number>;
    /**
     * Count each photo under the line's light (LINE_LIGHT_VARIANTS) as known too (train's
     * --ood-line-light). Default false: it accepts a lamp change, but also near look-alike parts (the
     * gate's leave-classes-out rejection fell from 0.95 to 0.68 with it, docs/ood.md).
     */
    lineLight?: boolean;
    /**
     * Count each photo turned by 90°, 180° and 270° as known too (train's --ood-turns), for parts that
     * arrive in any orientation. Default false: on the bolts-nuts leave-classes-out check it let more
     * look-alike parts through (docs/ood.md).
     */
    turns?: boolean;
  },
): Promise<OodFitResult> {
  if (!sets.val.images.length) {
    return { ood: null, calibration: null, note: 'no ood.json: no validation photos to set the threshold on (--val-split 0)' };
  }
  const t0 = performance.now();
  const method: OodMethod = defaultOodMethod(opts.arch);
  const fl = featureAndLogitModel(model);
  try {
    // A part under another lamp of the line (or turned, with --ood-turns) is a known photo: the
    // scorer's bank and the photos the threshold is set on hold every photo as shot and each variant
    // (measured in docs/ood.md: fitted on the photos as shot, 25% brighter photos were all rejected).
    const variants: DetectorVariants = { lineLight: opts.lineLight === true, turns: opts.turns === true };
    const trainSet = withVariants(sets.train, variants);
    const valSet = withVariants(sets.val, variants);
    const rows = async (set: ImageSet) => ({
      ...(await computeFeaturesAndLogits(fl, set.images, meta, opts.batchSize)),
      labels: set.labels,
    });
    const train = await rows(trainSet);
    const val = await rows(valSet);
    const trainGroups = detectorGroups(sets.train.files, opts.groupOf, variants);
    const valGroups = detectorGroups(sets.val.files, opts.groupOf, variants);
    // The shapes come from the same decoded, un-augmented images the features do.
    const silhouette = silhouetteFitInput({ train: trainSet.images, val: valSet.images }, opts.silhouette !== false, trainGroups);
    const each = variantsText(variants);
    const det = fitDetector(train, val, meta.labels, { method, acceptRate: opts.acceptRate, silhouette, valGroups, trainSplit: `train${each}`, thresholdSplit: `val${each}` });
    await writeOodFile(modelDir, det);
    const cal = det.calibration!;
    return {
      ood: {
        method,
        threshold: det.threshold,
        acceptRate: det.acceptRate,
        n: det.fittedOn.n,
        thresholdN: det.fittedOn.thresholdN,
        fittedOn: det.fittedOn.split,
        thresholdSplit: det.fittedOn.thresholdSplit,
        thresholdRule: det.fittedOn.thresholdRule,
        ...(det.fittedOn.thresholdGroups !== undefined ? { thresholdGroups: det.fittedOn.thresholdGroups } : {}),
        featureDim: fl.featureDim,
        fitSeconds: (performance.now() - t0) / 1000,
        silhouette: det.silhouette
          ? {
              threshold: det.silhouette.threshold,
              acceptRate: det.silhouette.acceptRate,
              n: det.silhouette.fittedOn.n,
              thresholdN: det.silhouette.fittedOn.thresholdN,
              ...(det.silhouette.fittedOn.reason ? { reason: det.silhouette.fittedOn.reason } : {}),
            }
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

/** Which variants of each photo, besides the photo as shot, the detector counts as known. */
export interface DetectorVariants {
  /** LINE_LIGHT_VARIANTS (train's --ood-line-light). */
  lineLight?: boolean;
  /** The photo turned by 90°, 180° and 270° (train's --ood-turns). */
  turns?: boolean;
}

/** Images per photo that the detector is fitted on: the photo as shot and its variants. */
export function imagesPerPhoto(v: DetectorVariants): number {
  return 1 + (v.lineLight ? LINE_LIGHT_VARIANTS.length : 0) + (v.turns ? 3 : 0);
}

/** ` + 5 line-light variants and 3 quarter turns of each` (for the split names in ood.json and the log), or ''. */
export function variantsText(v: DetectorVariants): string {
  const parts = [...(v.lineLight ? [`${LINE_LIGHT_VARIANTS.length} line-light variants`] : []), ...(v.turns ? ['3 quarter turns'] : [])];
  return parts.length ? ` + ${parts.join(' and ')} of each` : '';
}

/**
 * The group of each image the detector is fitted on, for `files` listed with `groupOf`: a photo's
 * near-duplicate group (without groups, a group of its own, numbered from −1 down), repeated for its
 * variants (withVariants' order). Training and the OOD study share it.
 */
export function detectorGroups(files: readonly string[], groupOf: ReadonlyMap<string, number> | undefined, variants: DetectorVariants): number[] {
  return repeatEach(
    files.map((f, i) => groupOf?.get(f) ?? -1 - i),
    variants,
  );
}

/** Each entry once per image withVariants makes of a photo. */
export function repeatEach<T>(xs: readonly T[], variants: DetectorVariants): T[] {
  const k = imagesPerPhoto(variants);
  return k === 1 ? xs.slice() : xs.flatMap((x) => Array<T>(k).fill(x));
}

/**
 * The photos the OOD detector counts as known: each photo as shot, followed by its line-light
 * variants (lineLightVariants) and its quarter turns (quarterTurnVariants) where asked, with its
 * label and file repeated. Training and the OOD study fit on it alike.
 */
export function withVariants(set: ImageSet, variants: DetectorVariants): ImageSet {
  if (imagesPerPhoto(variants) === 1) return set;
  const images = set.images.flatMap((im) => [im, ...(variants.lineLight ? lineLightVariants(im) : []), ...(variants.turns ? quarterTurnVariants(im) : [])]);
  return { images, labels: repeatEach(set.labels, variants), files: repeatEach(set.files, variants) };
}

/** How a threshold relates to the photos it was chosen on, for the log line. */
function boundNote(o: RunOodFit): string {
  // With a silhouette part the feature threshold is set for that part's share (√acceptRate).
  const rate = o.silhouette && !('note' in o.silhouette) ? o.silhouette.acceptRate : o.acceptRate;
  const share = `${(100 * rate).toFixed(rate === o.acceptRate ? 0 : 1)}%`;
  const photos = `${o.thresholdN} ${o.thresholdSplit ?? 'val'} photos`;
  const groups = o.thresholdGroups !== undefined ? `, counted as ${o.thresholdGroups} independent photos or near-duplicate groups` : '';
  const atLeast = `accepts at least ${share} of new known photos with ${(100 * ACCEPT_CONFIDENCE).toFixed(0)}% confidence`;
  if (o.thresholdRule === 'normal bound') return `accepts ${share} by a normal prediction bound on ${photos} (too few for a quantile)`;
  if (o.thresholdRule === 'tolerance bound') return `${atLeast} if their distances are normal (a normal tolerance bound on ${photos}${groups})`;
  if (o.thresholdRule === 'confidence bound') return `${atLeast} (an order statistic of ${photos}${groups})`;
  return `accepts ${share} of ${photos}`;
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
      : `; with the silhouette part (threshold ${s.threshold.toPrecision(4)} on ${s.thresholdN} leave-group-out train + val shapes; each part set to accept ${(100 * s.acceptRate).toFixed(1)}%, together ${(100 * o.acceptRate).toFixed(0)}%${s.reason ? `; used because ${s.reason}` : ''})`;
  return (
    `ood: ${o.method} scorer on ${o.n} ${o.fittedOn ?? 'train'} photos, threshold ${o.threshold.toPrecision(4)} ${boundNote(o)}; ` +
    `temperature ${c.temperature.toFixed(3)}${c.temperatureAtBound ? ' (the fit ran to its search bound: validation does not determine it, kept at 1)' : ''}, val ECE ${c.eceBefore.toFixed(3)} -> ${c.eceAfter.toFixed(3)}; fitted in ${o.fitSeconds.toFixed(2)}s${sil}`
  );
}
