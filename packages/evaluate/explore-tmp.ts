import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listDataset } from '@parts/data';
import { darkPixelWeight, explainPhoto, loadClassifier } from '@parts/models';
import { train } from '@parts/train';
const DATA = process.argv[2];
const size = Number(process.argv[3]);
const epochs = Number(process.argv[4]);
const t0 = Date.now();
const out = await fs.mkdtemp(path.join(os.tmpdir(), 'gc-explore-'));
const run = await train({ arch: 'partsnet', mode: 'scratch', data: DATA, out, imgSize: size, epochs, batchSize: 8, seed: 42, backend: 'wasm', quiet: true, patience: 0 });
console.log('trained in', (Date.now() - t0) / 1000, 's', JSON.stringify(run.metrics?.test ?? null), run.runDir);
const c = await loadClassifier(run.runDir);
const ds = await listDataset(DATA);
let pass = 0, correct = 0;
for (const s of ds.splits.test) {
  const e = await explainPhoto(c, await fs.readFile(s.file), { maxSide: 512 });
  const d = darkPixelWeight(e.heatmap, e.photo);
  if (d.ratio > 1.05) pass++;
  if (e.classIndex === s.label) correct++;
  console.log(path.basename(s.file), e.label, d.ratio.toFixed(2));
}
console.log(`pass ${pass}/${ds.splits.test.length} correct ${correct}`);
