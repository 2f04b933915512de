// The CI accuracy gate on real photos: train each baseline task with its recorded, seeded
// configuration, evaluate the run like `pnpm evaluate` does, and fail below baseline - 1 image.
// A task with `subset` trains and scores on a seeded subset of its dataset (made here as a folder of links);
// a task whose dataset folder is absent is skipped. Then each leave-classes-out task (baseline `ood`): train without the left-out classes and fail
// when the AUROC or the rejection rate of their photos falls below the baseline minus its margin.
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '@parts/cli';
import { readRunConfig, train, type TrainOptions } from '@parts/train';
import { listDataset } from '@parts/data';
import { checkAgainstBaseline, checkOodFigures, checkOodSeedMean, checkSeedMean, evaluateRun, makeHoldoutDataset, makeSubsetDataset, measureLeaveOut, readBaseline, runMatchesOodTask } from '../src/index';

const root = repoRoot();
const baselineFile = path.join(root, 'evaluation', 'baseline.json');
const shared = path.resolve(root, '../shared/datasets');

describe.skipIf(!existsSync(shared))('CI accuracy gate (../shared/datasets)', async () => {
  const baseline = await readBaseline(baselineFile);
  for (const [name, task] of Object.entries(baseline.tasks)) {
    const trainOpts = (task as { train?: Partial<TrainOptions> }).train ?? {};
    const seeds = task.seeds ?? [trainOpts.seed];
    const source = path.join(shared, task.dataset ?? name);
    const subsetText = task.subset ? ` on ${task.subset.trainPerClass} training photos per class` : '';
    // An optional set that is not there (e.g. a checkout with only the bolts) is skipped; a required
    // one fails (the gate must not pass without running).
    it.skipIf(!existsSync(source) && !task.required)(`${name}: ${task.arch} ${task.mode ?? ''}${subsetText} reaches the baseline ${task.accuracy} minus one test image${task.seeds ? ` (mean over seeds ${task.seeds.join(', ')})` : ''}`, async () => {
      const out = await fs.mkdtemp(path.join(os.tmpdir(), `ci-gate-${name}-`));
      // The subset's folder keeps the dataset's name: the baseline matches runs by it.
      const data = task.subset ? (await makeSubsetDataset(source, path.join(out, 'data', path.basename(source)), task.subset)).root : source;
      const evaluations = [];
      for (const seed of seeds) {
        const run = await train({ ...trainOpts, seed, arch: task.arch, mode: (task.mode ?? 'scratch') as TrainOptions['mode'], data, out, quiet: true });
        // Accuracy only: robustness and Grad-CAM are report material, not gated.
        const evaluation = await evaluateRun(run.runDir, { robustness: 'off', gradcam: false });
        // The evaluation of the saved model agrees with what training measured.
        expect(evaluation.correct).toBe(run.metrics.test!.correct);
        evaluations.push(evaluation);
      }
      if (task.seeds) {
        const line = checkSeedMean(name, task, evaluations);
        console.log(line.message);
        expect(line.pass, line.message).toBe(true);
        return;
      }
      const result = checkAgainstBaseline(evaluations, { tasks: { [name]: task } });
      for (const line of result.lines) console.log(line.message);
      expect(result.ok, result.lines.map((l) => l.message).join('\n')).toBe(true);
    }, 30 * 60_000);
  }
  for (const [name, task] of Object.entries(baseline.ood ?? {})) {
    const means = task.seeds ? ` (means over seeds ${task.seeds.join(', ')})` : '';
    it(`${name}: ${task.arch} without ${task.leaveOut.join(', ')} tells their photos apart (AUROC ${task.auroc} - ${task.margin.auroc}, rejected ${task.rejection} - ${task.margin.rejection}${means})`, async () => {
      const work = await fs.mkdtemp(path.join(os.tmpdir(), `ci-gate-${name}-`));
      const source = path.join(shared, task.dataset);
      const holdout = await makeHoldoutDataset(source, task.leaveOut, path.join(work, 'data'));
      const figures = [];
      for (const seed of task.seeds ?? [undefined]) {
        const run = await train({ ...(task.train ?? {}), ...(seed === undefined ? {} : { seed }), arch: task.arch, data: holdout.root, out: path.join(work, 'runs'), quiet: true });
        // The run is the task's (the light normalisation its figures were measured with).
        const matches = await runMatchesOodTask(run.runDir, task, (await listDataset(source, { validate: false })).classes);
        const trainedWith = (await readRunConfig(run.runDir))?.options?.lightNorm;
        expect(matches, `${run.runDir} is not a run of ${name}: trained with light normalisation ${JSON.stringify(trainedWith)}, the task names ${JSON.stringify(task.lightNorm)}`).toBe(true);
        figures.push(await measureLeaveOut(run.runDir, task, source, path.join(work, 'data')));
      }
      const line = task.seeds ? checkOodSeedMean(name, task, figures) : checkOodFigures(name, task, figures[0]!);
      console.log(line.message);
      expect(line.pass, line.message).toBe(true);
    }, 30 * 60_000);
  }
});
