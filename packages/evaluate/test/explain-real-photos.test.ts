// Grad-CAM, robustness and parity on the real photos: a PartsNet trained briefly (64 px, 15 epochs,
// about 35 s on wasm) on ../shared/datasets/parts. Skipped when the dataset is absent.
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@parts/backend';
import { DEFAULT_SHIFTS, listDataset, type Sample } from '@parts/data';
import { repoRoot } from '@parts/cli';
import {
  checkParity,
  darkPixelWeight,
  darknessFocus,
  DARKNESS_FOCUS_MIN,
  DEFAULT_CAM_METHOD,
  disposeClassifier,
  explainPhoto,
  invertMap,
  loadClassifier,
  pickParityPhotos,
  recordParity,
  rollMapX,
  uniformMap,
  weightsDarkPixels,
  writeExplanationPngs,
  type Classifier,
  type Explanation,
} from '@parts/models';
import { train, type TrainResult } from '@parts/train';
import { evaluateRobustness, robustnessChartPng, robustnessTableHtml } from '../src/index';

const DATA = path.join(repoRoot(), '..', 'shared', 'datasets', 'parts');
const have = existsSync(path.join(DATA, 'test'));

describe.skipIf(!have)('explanations on the parts photos', () => {
  let run: TrainResult;
  let c: Classifier;
  let test: Sample[];
  let bytes: Buffer[];
  let big: Explanation[]; // maps of class 'big' (label 0) for every test photo
  let predicted: Explanation[]; // maps of the predicted class
  let evidence: Explanation[][]; // DEFAULT_CAM_METHOD's maps of [big, small] per photo

  beforeAll(async () => {
    const out = await fs.mkdtemp(path.join(os.tmpdir(), 'explain-photos-'));
    run = await train({ arch: 'partsnet', mode: 'scratch', data: DATA, out, imgSize: 64, epochs: 15, batchSize: 8, seed: 42, backend: 'wasm', quiet: true, patience: 0 });
    c = await loadClassifier(run.runDir);
    expect(c.meta.labels).toEqual(['big', 'small']);
    test = (await listDataset(DATA)).splits.test;
    bytes = await Promise.all(test.map((s) => fs.readFile(s.file)));
    const before = tf.memory().numTensors;
    big = [];
    predicted = [];
    evidence = [];
    for (const b of bytes) {
      big.push(await explainPhoto(c, b, { maxSide: 512, classIndex: 0, method: 'grad-cam' }));
      predicted.push(await explainPhoto(c, b, { maxSide: 512, method: 'grad-cam' }));
      evidence.push([await explainPhoto(c, b, { maxSide: 512, classIndex: 0 }), await explainPhoto(c, b, { maxSide: 512, classIndex: 1 })]);
    }
    expect(tf.memory().numTensors).toBe(before);
    if (process.env.GRADCAM_DUMP) for (const [i, e] of predicted.entries()) await writeExplanationPngs(e, process.env.GRADCAM_DUMP, path.basename(test[i].file, '.jpg'));
    return () => disposeClassifier(c);
  }, 600_000);

  // On this size task the evidence for 'big' is the part's dark area; the evidence for 'small' is
  // the empty background (a small part is "not enough part"), so maps of 'small' sit on the
  // background, and a small-bolt photo has little or no positive evidence for 'big' (mostly an
  // all-zero map; where there is some, with light normalisation, it is weak and off the part).
  // The check is therefore on the maps of 'big' of the big-bolt photos, and on maps of predicted 'big'.
  it('Grad-CAM of "big" weights the part pixels above the map mean on at least 90% of the big-bolt photos', () => {
    const lines = test.map((s, i) => {
      const b = darkPixelWeight(big[i].heatmap, big[i].photo);
      const p = darkPixelWeight(predicted[i].heatmap, predicted[i].photo);
      return `${path.basename(s.file)} part ${(b.darkShare * 100).toFixed(1)}% | class big: ratio ${b.ratio.toFixed(2)} | predicted ${predicted[i].label}: ratio ${p.ratio.toFixed(2)}`;
    });
    console.log(lines.join('\n'));
    const bigPhotos = big.filter((_, i) => test[i].label === 0);
    const withEvidence = bigPhotos.filter((e) => e.hasEvidence);
    const pass = withEvidence.filter((e) => weightsDarkPixels(e.heatmap, e.photo)).length;
    const predBig = predicted.filter((e) => e.label === 'big');
    const predBigPass = predBig.filter((e) => weightsDarkPixels(e.heatmap, e.photo)).length;
    const predSmall = predicted.filter((e) => e.label === 'small');
    const predSmallPass = predSmall.filter((e) => weightsDarkPixels(e.heatmap, e.photo)).length;
    console.log(`class big on part pixels: ${pass}/${withEvidence.length} big-bolt photos with evidence (${big.filter((e) => e.hasEvidence).length} of all ${big.length} photos have some); predicted big: ${predBigPass}/${predBig.length}; predicted small: ${predSmallPass}/${predSmall.length}`);
    expect(big).toHaveLength(14);
    // Every photo of a big bolt has evidence for 'big'.
    expect(bigPhotos).toHaveLength(7);
    expect(withEvidence.length).toBe(7);
    expect(pass / withEvidence.length).toBeGreaterThanOrEqual(0.9);
    // The predicted class's map, where the prediction is 'big', is on the part as well.
    expect(predBig.length).toBeGreaterThan(0);
    expect(predBigPass / predBig.length).toBeGreaterThanOrEqual(0.9);
  });

  // Darkness focus (heat-weighted darkness over mean darkness) of both classes' maps: Grad-CAM's map of
  // 'small' is flat over the paper (focus about 1), the default method's is the evidence that the photo
  // adds over empty paper. Figures for the default 128 px model are in docs/explain.md.
  it('the default method gives both classes a map of their own; its maps of the predicted class reach the focus more often than Grad-CAM\'s', async () => {
    const focusOf = (e: Explanation) => darknessFocus(e.heatmap, e.photo);
    const gradSmall: number[] = [];
    for (const b of bytes) gradSmall.push(focusOf(await explainPhoto(c, b, { maxSide: 512, classIndex: 1, method: 'grad-cam' })));
    const gradBig = big.map(focusOf);
    const lines = test.map((s, i) => `${path.basename(s.file)} (${s.label}, predicted ${predicted[i].label}): ${DEFAULT_CAM_METHOD} big ${focusOf(evidence[i][0]).toFixed(2)} small ${focusOf(evidence[i][1]).toFixed(2)} | grad-cam big ${gradBig[i].toFixed(2)} small ${gradSmall[i].toFixed(2)}`);
    console.log(lines.join('\n'));
    const k = (e: Explanation) => c.meta.labels.indexOf(e.label);
    const onPart = (f: number) => f >= DARKNESS_FOCUS_MIN;
    const oursPredicted = predicted.filter((e, i) => onPart(focusOf(evidence[i][k(e)]))).length;
    const gradPredicted = predicted.filter((e, i) => onPart(k(e) === 0 ? gradBig[i] : gradSmall[i])).length;
    console.log(`predicted-class maps at focus >= ${DARKNESS_FOCUS_MIN}: ${DEFAULT_CAM_METHOD} ${oursPredicted}/14, grad-cam ${gradPredicted}/14`);
    expect(oursPredicted).toBeGreaterThanOrEqual(gradPredicted);
    // Grad-CAM's 'small' maps are flat: their focus stays within a few percent of 1 on the photos with evidence.
    // The default method's 'small' maps depart from flat on more photos than Grad-CAM's.
    const departs = (f: number) => Number.isFinite(f) && Math.abs(f - 1) >= 0.05;
    expect(evidence.filter((e) => departs(focusOf(e[1]))).length).toBeGreaterThan(gradSmall.filter(departs).length);
  });

  it('the criterion fails for a uniform, an inverted and a shifted map', () => {
    const counts = { real: 0, uniform: 0, inverted: 0, shifted: 0 };
    const maps = big.filter((x) => x.hasEvidence);
    const weights: [number, number][] = [];
    for (const e of maps) {
      const { width: w, height: h } = e.heatmap;
      const shifted = rollMapX(e.heatmap, w / 3);
      if (weightsDarkPixels(e.heatmap, e.photo)) counts.real++;
      if (weightsDarkPixels(uniformMap(w, h), e.photo)) counts.uniform++;
      if (weightsDarkPixels(invertMap(e.heatmap), e.photo)) counts.inverted++;
      if (weightsDarkPixels(shifted, e.photo)) counts.shifted++;
      weights.push([darkPixelWeight(e.heatmap, e.photo).ratio, darkPixelWeight(shifted, e.photo).ratio]);
    }
    console.log(`maps passing: ${JSON.stringify(counts)} of ${maps.length}; dark-pixel weight of each map / shifted by a third of the width: ${weights.map(([a, b]) => `${a.toFixed(2)}/${b.toFixed(2)}`).join(' ')}`);
    expect(counts.uniform).toBe(0);
    expect(counts.inverted / maps.length).toBeLessThan(0.5);
    // A bolt spans about half of the frame, so a map rolled by a third of the width can keep some of
    // its heat on the bolt and still clear the bar: the shifted copy must weight the dark pixels less
    // than the map itself, every time, and pass less often.
    for (const [own, shifted] of weights) expect(shifted).toBeLessThan(own);
    expect(counts.shifted).toBeLessThan(counts.real);
  });

  it('robustness: a baseline equal to the run\'s test accuracy and one row per shift level', async () => {
    const samples = test.map((s, i) => ({ file: s.file, label: s.label, bytes: bytes[i] }));
    const before = tf.memory().numTensors;
    const r = await evaluateRobustness(c, samples, { seed: 1 });
    expect(tf.memory().numTensors).toBe(before);
    console.log(`robustness: ${r.forwardPasses} forward passes in ${r.seconds.toFixed(1)} s (${((r.seconds / r.forwardPasses) * 1000).toFixed(1)} ms per shifted photo, 64 px)`);
    console.log(r.robustness.map((x) => `${x.shift} ${x.level} (${x.param}): ${x.correct}/${x.n}`).join('\n'));
    expect(r.robustness[0]).toMatchObject({ shift: 'none', level: 0, n: 14, correct: run.metrics.test!.correct });
    expect(r.robustness).toHaveLength(1 + DEFAULT_SHIFTS.reduce((n, s) => n + s.params.length, 0));
    expect(r.forwardPasses).toBe(14 * r.robustness.length);
    for (const x of r.robustness) {
      expect(x.interval.low).toBeLessThanOrEqual(x.accuracy);
      expect(x.interval.high).toBeGreaterThanOrEqual(x.accuracy);
    }
    // Reproducible from the seed (noise is the random shift).
    const noise = DEFAULT_SHIFTS.filter((s) => s.name === 'noise');
    const again = await evaluateRobustness(c, samples, { seed: 1, shifts: noise });
    expect(again.robustness.slice(1)).toEqual(r.robustness.filter((x) => x.shift === 'noise'));
    const png = robustnessChartPng(r.robustness);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    const html = robustnessTableHtml(r);
    expect(html).toContain('<table class="robustness">');
    expect(html.match(/<tr><th title=/g)).toHaveLength(DEFAULT_SHIFTS.length);
    if (process.env.GRADCAM_DUMP) await fs.writeFile(path.join(process.env.GRADCAM_DUMP, 'robustness.png'), png);
  }, 600_000);

  it('parity: recorded on wasm, the same within tolerance on cpu', async () => {
    const photos = pickParityPhotos(test.map((s, i) => ({ name: path.basename(s.file), bytes: bytes[i] })), 6);
    await initBackend('wasm', () => {});
    const wasm = await loadClassifier(run.runDir);
    const record = await recordParity(wasm, photos);
    disposeClassifier(wasm);
    await initBackend('cpu', () => {});
    const cpu = await loadClassifier(run.runDir);
    const byHash = new Map(record.entries.map((e, i) => [e.sha256, photos[i].bytes]));
    const r = await checkParity(cpu, record, byHash);
    disposeClassifier(cpu);
    await initBackend('wasm', () => {});
    console.log(`parity on the trained PartsNet, wasm record vs cpu: max |dp| = ${r.maxAbsDiff.toExponential(2)} over ${r.photos} photos`);
    expect(r).toMatchObject({ ok: true, photos: 6, backend: 'cpu', recordBackend: 'wasm' });
  }, 600_000);
});
