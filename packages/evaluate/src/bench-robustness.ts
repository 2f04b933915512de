// Cost of a robustness grid (--grid quick, the evaluation's default, or full) on a dataset's test photos, beside the cost of the plain
// test pass (decode + classify) measured in the same run. Weights do not change the cost, so the
// model is a freshly built one of the requested architecture and size.
//   pnpm exec tsx packages/evaluate/src/bench-robustness.ts --data ../shared/datasets/bolts-nuts [--arch partsnet --img-size 128 --fit contain --backend wasm --grid quick|full]
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend, type BackendName } from '@parts/backend';
import { decodeImage, listDataset, type FitPolicy } from '@parts/data';
import { buildClassifier, disposeClassifier, loadClassifier, predictProbabilities, saveClassifier } from '@parts/models';
import { isRobustnessPreset, robustnessForEvaluation } from './robustness-budget';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    arch: { type: 'string', default: 'partsnet' },
    'img-size': { type: 'string', default: '128' },
    fit: { type: 'string', default: 'contain' },
    backend: { type: 'string', default: 'wasm' },
    grid: { type: 'string', default: 'full' },
  },
});
if (!values.data) throw new Error('--data DIR is required');
const grid = values.grid;
if (!isRobustnessPreset(grid) || grid === 'off') throw new Error(`--grid must be quick or full (got ${grid})`);
const imgSize = Number(values['img-size']);
const backend = await initBackend(values.backend as BackendName, () => {});
const ds = await listDataset(values.data);
const built = buildClassifier({ arch: values.arch!, mode: 'scratch', imgSize, numClasses: ds.classes.length, seed: 1 });
const dir = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'bench-robustness-')), 'model');
await saveClassifier(built.model, { ...built.meta, format: 'parts-classifier/1', labels: ds.classes, fit: values.fit as FitPolicy }, dir);
built.model.dispose();
const c = await loadClassifier(dir);
const samples = ds.splits.test.map((s) => ({ file: s.file, label: s.label }));

await predictProbabilities(c, [await decodeImage(samples[0].file, { size: imgSize, fit: c.meta.fit })]); // warm-up
const t0 = performance.now();
const inputs = [];
for (const s of samples) inputs.push(await decodeImage(s.file, { size: imgSize, fit: c.meta.fit }));
await predictProbabilities(c, inputs);
const plain = (performance.now() - t0) / 1000;
const r = (await robustnessForEvaluation(c, samples, grid))!.summary;
disposeClassifier(c);
console.log(`${backend.name}, ${values.arch} ${imgSize} px, grid ${grid}: ${r.photos} of ${samples.length} test photos shifted`);
console.log(`plain test pass: ${plain.toFixed(1)} s; robustness: ${r.seconds.toFixed(1)} s for ${r.forwardPasses} forward passes (${((r.seconds / r.forwardPasses) * 1000).toFixed(1)} ms each) = ${(r.seconds / plain).toFixed(1)}x the plain pass`);
