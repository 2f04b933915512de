// Robustness rows with the model's OOD detector: each row counts the photos accepted as known and
// those accepted but wrong, and which part rejected; robustnessForEvaluation adds the line-light
// rows; the report tables show them. A small classifier on generated demo photos (models' fixture).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import { LINE_LIGHT_SHIFTS, LINE_TURN_SHIFTS } from '@parts/data';
import { disposeClassifier, loadClassifier, readOodFile, featureAndLogitModel, type Classifier, type OodDetector } from '@parts/models';
import { FIXTURE_LABELS, makeTrainedModel, type TrainedFixture } from '../../models/test/trained-model-fixture';
import { evaluateRobustness, robustnessTableHtml } from '../src/robustness';
import { robustnessForEvaluation } from '../src/robustness-budget';
import { tempDir } from './helpers';

let fx: TrainedFixture;
let c: Classifier;
let det: OodDetector;
let samples: { file: string; label: number }[];

beforeAll(async () => {
  await initBackend('cpu', () => {});
  fx = await makeTrainedModel(await tempDir('rob-acc-'), { runId: 'rob-acc', silhouette: true });
  c = await loadClassifier(fx.modelDir);
  const fl = featureAndLogitModel(c.model);
  det = (await readOodFile(c.dir, { featureDim: fl.featureDim, labels: c.meta.labels }))!;
  fl.dispose();
  samples = fx.known.slice(0, 6).map((k) => ({ file: k.file, label: FIXTURE_LABELS.indexOf(k.label) }));
}, 300_000);
afterAll(() => c && disposeClassifier(c));

describe('robustness rows with a detector', () => {
  it('count accepted, accepted-but-wrong and each part’s rejections; a rejecting threshold accepts none', async () => {
    const shifts = [{ name: 'brightness' as const, params: [0.7] }];
    const r = await evaluateRobustness(c, samples, { shifts, detector: det });
    for (const row of r.robustness) {
      expect(row.accepted).toBeGreaterThanOrEqual(0);
      expect(row.accepted).toBeLessThanOrEqual(row.n);
      expect(row.acceptance).toBeCloseTo(row.accepted! / row.n, 12);
      expect(row.acceptanceInterval!.low).toBeLessThanOrEqual(row.acceptance!);
      expect(row.acceptedWrong).toBeLessThanOrEqual(Math.min(row.accepted!, row.n - row.correct));
      expect(row.rejectedBy!.silhouette).not.toBeNull();
      // A photo is accepted only when neither part rejects it.
      expect(row.n - row.accepted!).toBeGreaterThanOrEqual(Math.max(row.rejectedBy!.feature, row.rejectedBy!.silhouette!));
    }
    // The accuracy is the classifier's, with or without a detector.
    const plain = await evaluateRobustness(c, samples, { shifts });
    expect(plain.robustness.map((x) => x.correct)).toEqual(r.robustness.map((x) => x.correct));
    expect(plain.robustness[0].accepted).toBeUndefined();
    const strict = await evaluateRobustness(c, samples, { shifts, detector: { ...det, threshold: Infinity } });
    expect(strict.robustness.map((x) => [x.accepted, x.acceptedWrong, x.rejectedBy!.feature])).toEqual(strict.robustness.map((x) => [0, 0, x.n]));
    const open = await evaluateRobustness(c, samples, { shifts, detector: { ...det, threshold: -Infinity, silhouette: undefined } });
    expect(open.robustness.map((x) => [x.accepted, x.acceptedWrong, x.rejectedBy!.silhouette])).toEqual(open.robustness.map((x) => [x.n, x.n - x.correct, null]));
  }, 300_000);

  it('robustnessForEvaluation adds the line-light rows and the quarter turns with acceptance, and the report tables list them', async () => {
    const res = (await robustnessForEvaluation(c, samples, 'quick'))!;
    const light = res.rows.filter((r) => r.grid === 'line-light');
    expect(light.map((r) => `${r.shift} ${r.param}`)).toEqual(LINE_LIGHT_SHIFTS.flatMap((s) => s.params.map((p) => `${s.name} ${p}`)));
    expect(light.every((r) => r.accepted !== undefined && r.n === samples.length)).toBe(true);
    const turns = res.rows.filter((r) => r.grid === 'turns');
    expect(turns.map((r) => `${r.shift} ${r.param}`)).toEqual(LINE_TURN_SHIFTS.flatMap((s) => s.params.map((p) => `${s.name} ${p}`)));
    expect(turns.every((r) => r.accepted !== undefined && r.n === samples.length)).toBe(true);
    expect(res.summary.forwardPasses).toBe(samples.length * (1 + 8 * 2 + light.length + turns.length));
    expect(res.rows.filter((r) => !r.grid && r.level > 0).every((r) => r.level === 1 || r.level === 3)).toBe(true);
    expect(res.summary.units['cold-cast']).toMatch(/cold cast/);
    const html = robustnessTableHtml({ robustness: res.rows, units: res.summary.units });
    expect(html).toContain('<table class="robustness line-light">');
    expect(html).toContain('accepted as known');
    expect(html).toMatch(/brightness 1\.25/);
    expect(html).toContain('<table class="robustness turns">');
    expect(html).toMatch(/<th[^>]*>turn 90<\/th>/);
  }, 300_000);
});
