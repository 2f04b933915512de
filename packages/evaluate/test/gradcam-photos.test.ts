// Grad-CAM on the real photos: a PartsNet trained briefly on ../shared/datasets/parts must look at
// the parts (dark objects on a light background). Skipped when the dataset is absent.
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { listDataset, repoRoot } from '@parts/data';
import {
  darkPixelWeight,
  disposeClassifier,
  explainPhoto,
  invertMap,
  loadClassifier,
  rollMapX,
  uniformMap,
  weightsDarkPixels,
  writeExplanationPngs,
  type Classifier,
  type Explanation,
} from '@parts/models';
import { train } from '@parts/train';

const DATA = path.join(repoRoot(), '..', 'shared', 'datasets', 'parts');
const have = existsSync(path.join(DATA, 'test'));

describe.skipIf(!have)('Grad-CAM on the parts photos', () => {
  let c: Classifier;
  let explained: { file: string; e: Explanation }[] = [];

  beforeAll(async () => {
    const out = await fs.mkdtemp(path.join(os.tmpdir(), 'gradcam-photos-'));
    const run = await train({ arch: 'partsnet', mode: 'scratch', data: DATA, out, imgSize: 64, epochs: 15, batchSize: 8, seed: 42, backend: 'wasm', quiet: true, patience: 0 });
    c = await loadClassifier(run.runDir);
    const ds = await listDataset(DATA);
    const before = tf.memory().numTensors;
    for (const s of ds.splits.test) explained.push({ file: s.file, e: await explainPhoto(c, await fs.readFile(s.file), { maxSide: 512 }) });
    expect(tf.memory().numTensors).toBe(before);
    if (process.env.GRADCAM_DUMP) for (const { file, e } of explained) await writeExplanationPngs(e, process.env.GRADCAM_DUMP, path.basename(file, '.jpg'));
    return () => disposeClassifier(c);
  }, 600_000);

  it('weights the part pixels above the map mean on at least 90% of the test photos', () => {
    const rows = explained.map(({ file, e }) => ({ file: path.basename(file), label: e.label, ...darkPixelWeight(e.heatmap, e.photo) }));
    console.log(rows.map((r) => `${r.file} ${r.label} ratio ${r.ratio.toFixed(2)} dark ${(r.darkShare * 100).toFixed(1)}%`).join('\n'));
    const pass = explained.filter(({ e }) => weightsDarkPixels(e.heatmap, e.photo)).length;
    console.log(`Grad-CAM on part pixels: ${pass}/${explained.length}`);
    expect(explained.length).toBe(14);
    expect(pass / explained.length).toBeGreaterThanOrEqual(0.9);
  });

  it('the criterion fails for a uniform, an inverted and a shifted map', () => {
    const counts = { uniform: 0, inverted: 0, shifted: 0 };
    for (const { e } of explained) {
      const { width: w, height: h } = e.heatmap;
      if (weightsDarkPixels(uniformMap(w, h), e.photo)) counts.uniform++;
      if (weightsDarkPixels(invertMap(e.heatmap), e.photo)) counts.inverted++;
      if (weightsDarkPixels(rollMapX(e.heatmap, w / 3), e.photo)) counts.shifted++;
    }
    console.log(`controls passing: ${JSON.stringify(counts)} of ${explained.length}`);
    expect(counts.uniform).toBe(0);
    expect(counts.inverted / explained.length).toBeLessThan(0.5);
    expect(counts.shifted / explained.length).toBeLessThan(0.5);
  });
});
