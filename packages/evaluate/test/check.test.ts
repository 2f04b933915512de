import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkAgainstBaseline, checkSeedMean, readBaseline, validateBaseline } from '../src/check';
import type { Baseline } from '../src/check';
import { checkOodFigures, checkOodSeedMean, runMatchesOodTask, validateOodTasks, type OodBaselineTask } from '../src/ood-check';
import { repoRoot } from '@parts/cli';
import { fakeEvaluation, otherScope, tempDir } from './helpers';

/** A tinyvgg run on a dataset folder named `dataset` with `right` of 20 images correct. */
function run(runId: string, right: number, dataset = 'parts', arch = 'tinyvgg', n = 20) {
  const items: [string, string, number[]][] = Array.from({ length: n }, (_, i) => {
    const truth = i % 2 ? 'small' : 'big';
    const ok = i < right;
    const pBig = (truth === 'big') === ok ? 0.8 : 0.2;
    return [`/d/${i}.jpg`, truth, [pBig, 1 - pBig]];
  });
  return fakeEvaluation({ runId, arch, mode: 'scratch', labels: ['big', 'small'], items, dataRoot: `/x/datasets/${dataset}` });
}

const baseline = (accuracy: number, extra: Partial<Baseline['tasks'][string]> = {}): Baseline => ({
  format: 'parts-baseline/1',
  tasks: { parts: { arch: 'tinyvgg', mode: 'scratch', accuracy, n: 20, ...extra } },
});

describe('accuracy gate', () => {
  it('passes at the baseline and within one test image of it', () => {
    expect(checkAgainstBaseline([run('r', 17)], baseline(0.85)).ok).toBe(true); // equal
    expect(checkAgainstBaseline([run('r', 16)], baseline(0.85)).ok).toBe(true); // one image below
  });

  it('reads a baseline written to 4 decimals as the count it rounds: one image below 13/14 (0.9286) passes, two fail', () => {
    const b = baseline(0.9286, { n: 14 });
    expect(checkAgainstBaseline([run('r', 13, 'parts', 'tinyvgg', 14)], b).ok).toBe(true);
    const one = checkAgainstBaseline([run('r', 12, 'parts', 'tinyvgg', 14)], b);
    expect(one.ok).toBe(true);
    expect(one.lines[0].message).toContain('at least 12/14 right');
    expect(checkAgainstBaseline([run('r', 11, 'parts', 'tinyvgg', 14)], b).ok).toBe(false);
  });

  it('fails on a deliberately higher baseline, with both numbers in the message', () => {
    const res = checkAgainstBaseline([run('r1', 16)], baseline(0.9));
    expect(res.ok).toBe(false);
    const msg = res.lines[0].message;
    expect(msg).toMatch(/^FAIL parts: r1 accuracy 0\.8000 \(16\/20\) < baseline 0\.9000 minus one test image \(1\/20 = 0\.0500\) = 0\.8500/);
  });

  it('judges the latest run per task when asked, every run otherwise', () => {
    const runs = [run('20250101-000000-tinyvgg-scratch', 10), run('20250102-000000-tinyvgg-scratch', 17)];
    expect(checkAgainstBaseline(runs, baseline(0.85), { latestOnly: true }).ok).toBe(true);
    expect(checkAgainstBaseline(runs, baseline(0.85)).ok).toBe(false);
  });

  it('matches runs by architecture alias, mode and dataset folder name', () => {
    const b: Baseline = { tasks: { 'bolts-nuts': { arch: 'inceptionv3', accuracy: 0.5 }, parts: { arch: 'tinyvgg', mode: 'extract', accuracy: 0.99 } } };
    const res = checkAgainstBaseline([run('i', 4, 'bolts-nuts', 'inception'), run('t', 20)], b);
    expect(res.lines.map((l) => [l.task, l.runId, l.pass])).toEqual([
      ['bolts-nuts', 'i', false],
      ['parts', null, true], // tinyvgg *scratch* does not match a tinyvgg extract task; not required → skip
    ]);
    b.tasks.parts.required = true;
    expect(checkAgainstBaseline([], b).lines[1]).toMatchObject({ pass: false });
  });

  it('judges only evaluations of a run\'s own test split; others are listed as ignored', () => {
    // Perfect on its train split, or on another dataset's test split: neither may pass the gate.
    const onTrain = otherScope(run('20250103-000000-tinyvgg-scratch', 20), { split: 'train' });
    const elsewhere = otherScope(run('20250104-000000-tinyvgg-scratch', 20), { dataRoot: '/y/parts' });
    const res = checkAgainstBaseline([onTrain, elsewhere, run('20250101-000000-tinyvgg-scratch', 10)], baseline(0.85), { latestOnly: true });
    expect(res.ok).toBe(false);
    expect(res.lines.map((l) => [l.runId, l.pass])).toEqual([['20250101-000000-tinyvgg-scratch', false]]);
    expect(res.ignored.map((i) => i.message)).toEqual([
      expect.stringMatching(/^ignored 20250103-000000-tinyvgg-scratch: evaluated on the 'train' split of \/x\/datasets\/parts/),
      expect.stringMatching(/^ignored 20250104-000000-tinyvgg-scratch: evaluated on the 'test' split of \/y\/parts \(not its training dataset\)/),
    ]);
    const alone = checkAgainstBaseline([onTrain], baseline(0.85, { required: true }));
    expect(alone.lines[0]).toMatchObject({ runId: null, pass: false });
  });

  it('rejects a malformed baseline file with the field named', async () => {
    const dir = await tempDir();
    const f = path.join(dir, 'baseline.json');
    await fs.writeFile(f, JSON.stringify({ tasks: { parts: { arch: 'tinyvgg', accuracy: 1.5 } } }));
    await expect(readBaseline(f)).rejects.toThrow(/tasks\.parts\.accuracy must be a number in \[0, 1\]/);
    await fs.writeFile(f, '{oops');
    await expect(readBaseline(f)).rejects.toThrow(/not valid JSON/);
  });
});

describe('leave-classes-out baseline (ood)', () => {
  const task: OodBaselineTask = {
    dataset: 'bolts-nuts',
    arch: 'partsnet',
    leaveOut: ['M12_nut', 'M5_bolt'],
    method: 'knn',
    auroc: 0.9,
    rejection: 0.5,
    margin: { auroc: 0.05, rejection: 0.1 },
  };
  const figures = (auroc: number, rejection: number) => ({ runId: 'r', auroc, rejection, n: 56, knownAccepted: 0.95, threshold: 0.7 });

  it('passes within the margins and fails beyond either, naming both numbers', () => {
    expect(checkOodFigures('lo', task, figures(0.85, 0.4)).pass).toBe(true);
    const auroc = checkOodFigures('lo', task, figures(0.84, 0.6));
    expect(auroc.pass).toBe(false);
    expect(auroc.message).toMatch(/^FAIL lo: r left out M12_nut\+M5_bolt \(56 photos, knn\): AUROC 0\.840 < 0\.900 - 0\.050 = 0\.850/);
    const rej = checkOodFigures('lo', task, figures(0.95, 0.39));
    expect(rej.pass).toBe(false);
    expect(rej.message).toMatch(/rejected 0\.390 < 0\.500 - 0\.100 = 0\.400/);
  });

  it('over seeds: judged on the mean of each figure, one bad seed carried by the others, each seed named', () => {
    const seeded = { ...task, seeds: [42, 1, 2] };
    // Seed 42 alone would fail the rejection bar (0.3 < 0.4); the mean 0.5 holds.
    const ok = checkOodSeedMean('lo', seeded, [figures(0.9, 0.3), figures(0.86, 0.6), figures(0.88, 0.6)]);
    expect(ok.pass).toBe(true);
    expect(ok.message).toMatch(/^ok {3}lo: left out M12_nut\+M5_bolt \(56 photos, knn\), mean over seeds: AUROC 0\.880 >= 0\.900 - 0\.050 = 0\.850; rejected 0\.500 >= 0\.500 - 0\.100 = 0\.400/);
    expect(ok.message).toMatch(/seed: AUROC\/rejected 42: 0\.900\/0\.300, 1: 0\.860\/0\.600, 2: 0\.880\/0\.600/);
    // Means below either bar fail, even when one seed is above it.
    const low = checkOodSeedMean('lo', seeded, [figures(0.95, 0.3), figures(0.8, 0.35), figures(0.79, 0.5)]);
    expect(low.pass).toBe(false);
    expect(low.message).toMatch(/AUROC 0\.847 < 0\.900 - 0\.050 = 0\.850; rejected 0\.383 < 0\.500 - 0\.100 = 0\.400/);
    expect(() => checkOodSeedMean('lo', seeded, [figures(0.9, 0.5)])).toThrow(/1 runs for 3 seeds/);
    expect(() => validateOodTasks({ lo: { ...task, seeds: [1, 1] } })).toThrow(/ood\.lo\.seeds must be a non-empty list of distinct integers/);
  });

  it('a baseline with a malformed ood task is refused with the field named', () => {
    const b: Baseline = { tasks: { parts: { arch: 'tinyvgg', accuracy: 0.9 } }, ood: { lo: { ...task, method: 'cosine' as OodBaselineTask['method'], margin: { auroc: 2, rejection: 0.1 } } } };
    expect(() => checkAgainstBaseline([], b)).toThrow(/ood\.lo\.method must be msp, energy, mahalanobis or knn \(got "cosine"\); ood\.lo\.margin must be/);
    expect(validateOodTasks(undefined)).toEqual({});
    expect(() => validateOodTasks({ lo: { ...task, lightNorm: 'sun' } })).toThrow(/ood\.lo\.lightNorm must be one of none, paper \(got "sun"\)/);
  });

  it("a run is the task's only with the light normalisation the task names", async () => {
    const dir = await tempDir('ood-match-');
    const run = async (name: string, options: Record<string, unknown>) => {
      const d = path.join(dir, name);
      await fs.mkdir(d, { recursive: true });
      await fs.writeFile(path.join(d, 'config.json'), JSON.stringify({ arch: 'partsnet', options, data: { classes: ['M5_nut', 'M6_bolt'] } }));
      return d;
    };
    const classes = ['M12_nut', 'M5_bolt', 'M5_nut', 'M6_bolt'];
    const paper = await run('paper', { lightNorm: 'paper' });
    const none = await run('none', { lightNorm: 'none' });
    const older = await run('older', {});
    const named = { ...task, lightNorm: 'paper' };
    expect(await runMatchesOodTask(paper, named, classes)).toBe(true);
    expect(await runMatchesOodTask(none, named, classes)).toBe(false);
    expect(await runMatchesOodTask(older, named, classes)).toBe(false);
    expect(await runMatchesOodTask(none, task, classes)).toBe(true);
    expect(await runMatchesOodTask(paper, { ...named, arch: 'tinyvgg' }, classes)).toBe(false);
  });

  it('the committed baseline has a valid leave-classes-out task', async () => {
    const b = await readBaseline(path.join(repoRoot(), 'evaluation', 'baseline.json'));
    expect(Object.keys(b.ood ?? {}).length).toBeGreaterThanOrEqual(1);
  });
});

describe('accuracy gate over several seeds', () => {
  const task = { arch: 'tinyvgg', accuracy: 0.8857, n: 14, seeds: [42, 1, 2] };
  const run = (runId: string, correct: number) => ({ runId, correct, n: 14, accuracy: correct / 14 });

  it('judges the mean over the seeds, within one test image of the baseline', () => {
    // threshold 0.8857 − 1/14 = 0.8143: 35 of 42 right passes, 34 does not
    const ok = checkSeedMean('parts', task, [run('a', 11), run('b', 12), run('c', 12)]);
    expect(ok.pass).toBe(true);
    expect(ok.message).toMatch(/^ok +parts: mean accuracy over seeds 0\.8333 \(35\/42; 42: 11\/14, 1: 12\/14, 2: 12\/14\) >= .* at least 35\/42 right$/);
    const fail = checkSeedMean('parts', task, [run('a', 9), run('b', 13), run('c', 12)]);
    expect(fail.pass).toBe(false);
    expect(fail.message).toMatch(/^FAIL parts: .*34\/42/);
  });

  it('refuses a run count that does not match the seeds, and bad seed lists in the baseline', () => {
    expect(() => checkSeedMean('parts', task, [run('a', 11)])).toThrow(/1 evaluations for 3 seeds/);
    expect(() => validateBaseline({ tasks: { parts: { ...task, seeds: [1, 1] } } })).toThrow(/tasks\.parts\.seeds must be a non-empty list of distinct integers/);
    expect(() => validateBaseline({ tasks: { parts: { ...task, seeds: [] } } })).toThrow(/seeds/);
  });
});
