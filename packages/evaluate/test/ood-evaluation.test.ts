// evaluateOodAndCalibration with a detector that has a silhouette part: accepted / rejected are
// the decisions predict and serve make (unknown when either part rejects), each part's own
// rejections are recorded, AUROC is named as the feature score's, and the report paragraph names
// the detector `knn+silhouette` and both parts' figures.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import { decodeImage, type RawImage } from '@parts/data';
import {
  computeFeaturesAndLogits,
  decideRows,
  detectorShapes,
  disposeClassifier,
  featureAndLogitModel,
  loadClassifier,
  readOodFile,
  writeOodFile,
  type Classifier,
} from '@parts/models';
import { FIXTURE_LABELS, makeTrainedModel, type TrainedFixture } from '../../models/test/trained-model-fixture';
import type { Evaluation } from '../src/evaluation-record';
import { evaluateOodAndCalibration } from '../src/ood-evaluation';
import { oodSummary } from '../src/report';
import { tempDir } from './helpers';

let dir: string;
let fx: TrainedFixture;
let test: { images: RawImage[]; labels: number[]; files: string[] };

/** A dark ring (a nut) on light paper at the model's input size: a shape no training bolt has. */
function ringImage(size: number): RawImage {
  const data = new Uint8Array(size * size * 3);
  const c = (size - 1) / 2;
  for (let i = 0; i < size * size; i++) {
    const d2 = (i % size - c) ** 2 + (Math.floor(i / size) - c) ** 2;
    data.fill(d2 <= (0.3 * size) ** 2 && d2 > (0.13 * size) ** 2 ? 40 : 220, i * 3, i * 3 + 3);
  }
  return { data, width: size, height: size };
}

async function withClassifier<T>(modelDir: string, f: (c: Classifier) => Promise<T>): Promise<T> {
  const c = await loadClassifier(modelDir);
  try {
    return await f(c);
  } finally {
    disposeClassifier(c);
  }
}

beforeAll(async () => {
  await initBackend('cpu', () => {});
  dir = await tempDir('ood-eval-sil-');
  fx = await makeTrainedModel(dir, { runId: 'demo-sil', silhouette: true });
  const images = await Promise.all(fx.known.map((k) => decodeImage(k.file, { size: 32, fit: 'cover' })));
  // The known photos plus a nut labelled "big": a known-class photo as far as the labels go,
  // which only the shape part can tell apart.
  test = {
    images: [...images, ringImage(32)],
    labels: [...fx.known.map((k) => FIXTURE_LABELS.indexOf(k.label)), 0],
    files: [...fx.known.map((k) => k.file), 'nut.png'],
  };
});

afterAll(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

describe('evaluateOodAndCalibration with a silhouette part', () => {
  it('counts what predict and serve decide: accepted only when both parts accept', async () => {
    const { ood } = await withClassifier(fx.modelDir, (c) => evaluateOodAndCalibration(c, test, { farPerKind: 1, farPhotos: 2 }));
    expect(ood.status).toBe('ok');
    expect(ood.method).toBe('knn+silhouette');
    expect(ood.aurocScore).toBe('feature');
    // The same decisions computed here with decideRows and the photos' shapes.
    const expected = await withClassifier(fx.modelDir, async (c) => {
      const fl = featureAndLogitModel(c.model);
      try {
        const det = (await readOodFile(c.dir))!;
        const rows = await computeFeaturesAndLogits(fl, test.images, c.meta);
        return decideRows(rows, c.meta.labels, det, undefined, detectorShapes(det, test.images)).filter((d) => !d.unknown).length;
      } finally {
        fl.dispose();
      }
    });
    expect(ood.known!.accepted).toBe(expected);
    expect(ood.known!.n).toBe(test.images.length);
    const sil = ood.parts!.silhouette!;
    const stored = JSON.parse(await fs.readFile(path.join(fx.modelDir, 'ood.json'), 'utf8'));
    expect(sil).toMatchObject({ threshold: stored.silhouette.threshold, acceptRate: stored.silhouette.acceptRate });
    expect(sil.knownRejected).toBeGreaterThanOrEqual(1); // the nut
    // Unknown when either part rejects: at least as many rejections as either part alone.
    expect(ood.known!.n - ood.known!.accepted).toBeGreaterThanOrEqual(Math.max(sil.knownRejected, ood.parts!.feature.knownRejected));
    expect(ood.far!.rejected).toBeGreaterThanOrEqual(Math.max(sil.farRejected, ood.parts!.feature.farRejected));
    expect(Object.values(ood.far!.byKind).reduce((a, k) => a + k.rejected, 0)).toBe(ood.far!.rejected);
    expect(Object.values(sil.farByKind).reduce((a, b) => a + b, 0)).toBe(sil.farRejected);
  });

  it('a photo that passes the feature threshold but fails the silhouette part counts as rejected', async () => {
    // The same model with a feature threshold every photo passes.
    const loose = path.join(dir, 'loose');
    await fs.cp(fx.modelDir, loose, { recursive: true });
    const det = (await readOodFile(loose))!;
    await writeOodFile(loose, { ...det, threshold: -1e9 });
    const { ood } = await withClassifier(loose, (c) => evaluateOodAndCalibration(c, test, { farPerKind: 1, farPhotos: 2 }));
    const feature = ood.parts!.feature;
    const sil = ood.parts!.silhouette!;
    expect([feature.threshold, feature.knownRejected, feature.farRejected]).toEqual([-1e9, 0, 0]);
    // Everything rejected is the shape part's doing, and it is counted in coverage and far rejection.
    expect(sil.knownRejected).toBeGreaterThanOrEqual(1);
    expect(ood.known!.accepted).toBe(ood.known!.n - sil.knownRejected);
    expect(ood.known!.coverage).toBeCloseTo(ood.known!.accepted / ood.known!.n, 12);
    expect(sil.farRejected).toBeGreaterThan(0);
    expect(ood.far!.rejected).toBe(sil.farRejected);
    for (const [kind, k] of Object.entries(ood.far!.byKind)) expect(k.rejected).toBe(sil.farByKind[kind]);
    // The feature scores (histogram, AUROC) do not depend on the threshold.
    const { ood: stored } = await withClassifier(fx.modelDir, (c) => evaluateOodAndCalibration(c, test, { farPerKind: 1, farPhotos: 2 }));
    expect(ood.scores).toEqual(stored.scores);
    expect(ood.aurocKnownVsFar).toBe(stored.aurocKnownVsFar);
  });

  it('the report paragraph names the detector and what each part rejects', async () => {
    const { ood } = await withClassifier(fx.modelDir, (c) => evaluateOodAndCalibration(c, test, { farPerKind: 1, farPhotos: 2 }));
    const text = oodSummary({ ood, split: 'test' } as Evaluation);
    const sil = ood.parts!.silhouette!;
    expect(text).toContain('OOD detector knn+silhouette');
    expect(text).toContain('a photo is unknown when either part rejects it');
    expect(text).toContain(`silhouette threshold ${sil.threshold.toFixed(4)}`);
    expect(text).toContain(`Known test photos accepted: ${ood.known!.accepted}/${ood.known!.n}`);
    expect(text).toContain(`the silhouette part ${sil.knownRejected}/${ood.known!.n} known`);
    expect(text).toContain(`${sil.farRejected}/${ood.far!.n} far-OOD`);
    expect(text).toMatch(/AUROC known vs far-OOD [\d.]+ \(on the knn feature score/);
  });
});
