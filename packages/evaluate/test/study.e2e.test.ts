// End to end on a tiny generated dataset: real training (Tiny VGG, 16 px, 1 epoch, wasm), evaluation,
// report, promotion, the bad-run listing and the `pnpm evaluate --check` exit code.
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateDemoDataset } from '@parts/data';
import { repoRoot } from '@parts/cli';
import { loadClassifier, disposeClassifier, WeightsUnavailableError } from '@parts/models';
import { train } from '@parts/train';
import type { TrainOptions } from '@parts/train';
import { runStudy } from '../src/study';
import type { StudyResult } from '../src/study';
import { evaluateRun, readEvaluation } from '../src/evaluation';
import { evaluateRuns } from '../src/pipeline';
import { readModelCard } from '../src/promote';
import { tempDir } from './helpers';

const run = promisify(execFile);
let dir: string;
let data: string;
let study: StudyResult;
let runDir: string;

beforeAll(async () => {
  dir = await tempDir('parts-study-');
  data = path.join(dir, 'demo');
  await generateDemoDataset(data, { trainPerClass: 6, testPerClass: 3, width: 64, height: 48 });
  // vgg16 stands in for a pretrained base whose ImageNet weights cannot be downloaded here.
  const fakeOffline = async (o: TrainOptions) => {
    if (o.arch === 'vgg16') throw new WeightsUnavailableError('https://example.invalid/w.h5', 'w.h5', '/cache', 'md5', 'getaddrinfo ENOTFOUND');
    return train(o);
  };
  study = await runStudy({
    data,
    weights: 'imagenet',
    epochs: 1,
    imgSize: 16,
    batchSize: 4,
    backend: 'wasm',
    out: path.join(dir, 'runs'),
    reportsOut: path.join(dir, 'reports'),
    promote: true,
    promoteTarget: path.join(dir, 'serve', 'model'),
    grid: [
      { arch: 'tinyvgg', mode: 'scratch' },
      { arch: 'vgg16', mode: 'extract' },
    ],
    train: fakeOffline,
    log: () => {},
  });
  runDir = study.runs.find((r) => r.status === 'ok')!.runDir!;
});

describe('study on generated data', () => {
  it('trains, evaluates with per-image predictions, and lists the skipped run with its reason', async () => {
    expect(study.runs.map((r) => [r.arch, r.mode, r.status])).toEqual([
      ['tinyvgg', 'scratch', 'ok'],
      ['vgg16', 'extract', 'skipped'],
    ]);
    const ev = await readEvaluation(runDir);
    expect(ev.n).toBe(6);
    expect(ev.predictions).toHaveLength(6);
    for (const p of ev.predictions) {
      expect(p.file.startsWith(path.join(data, 'test'))).toBe(true);
      expect(['big', 'small']).toContain(p.true);
      expect(p.probabilities.big + p.probabilities.small).toBeCloseTo(1, 5);
    }
    expect(ev.correct).toBe(ev.predictions.filter((p) => p.correct).length);
    // Same images, model and preprocessing as training's own test pass → the same count.
    const trained = JSON.parse(await fs.readFile(path.join(runDir, 'metrics.json'), 'utf8'));
    expect(ev.correct).toBe(trained.test.correct);
    expect(ev.n).toBe(trained.test.n);
    expect(ev.data.sameAsTraining).toBe(true);
    expect(ev.data.training.fingerprint).toBeTruthy();
    const lb = study.report.leaderboard;
    expect(lb.entries.find((e) => e.status === 'skipped')?.reason).toMatch(/ImageNet weights unavailable: .*w\.h5/);
    const html = await fs.readFile(path.join(study.report.dir, 'index.html'), 'utf8');
    expect(html).toContain('ImageNet weights unavailable');
    expect(html).toMatch(/<img alt="learning curves" src="data:image\/png;base64,/);
  });

  it('promotes a model that loads, with its card', async () => {
    expect(study.promotion?.promoted).toBe(true);
    const target = path.join(dir, 'serve', 'model');
    const card = (await readModelCard(target))!;
    expect(card.runId).toBe(path.basename(runDir));
    expect(card.imgSize).toBe(16);
    const c = await loadClassifier(target);
    expect(c.meta.labels).toEqual(['big', 'small']);
    disposeClassifier(c);
  });

  it('lists broken run folders as bad instead of failing', async () => {
    const runs = path.join(dir, 'runs');
    const broken = path.join(runs, 'broken-weights');
    await fs.cp(runDir, broken, { recursive: true });
    await fs.writeFile(path.join(broken, 'model', 'weights.bin'), Buffer.alloc(3));
    await fs.mkdir(path.join(runs, '.tmp-20990101-000000-tinyvgg-scratch'));
    await fs.mkdir(path.join(runs, 'empty'));
    const res = await evaluateRuns({ runsDir: runs });
    const byId = Object.fromEntries(res.map((r) => [path.basename(r.runDir!), r]));
    expect(byId[path.basename(runDir)].status).toBe('ok');
    expect(byId['broken-weights']).toMatchObject({ status: 'bad' });
    expect(byId['broken-weights'].reason).toMatch(/evaluation failed/);
    expect(byId['.tmp-20990101-000000-tinyvgg-scratch'].reason).toMatch(/unfinished/);
    expect(byId.empty.reason).toMatch(/missing config\.json.*missing metrics\.json.*missing model\/classifier\.json/);
    await fs.rm(broken, { recursive: true });
  });

  it('`pnpm evaluate --check` exits 1 with both numbers on a worse baseline, 0 on a fair one', async () => {
    const ev = await readEvaluation(runDir);
    const baselineFile = (name: string, accuracy: number) => {
      const f = path.join(dir, `${name}.json`);
      return fs.writeFile(f, JSON.stringify({ format: 'parts-baseline/1', tasks: { demo: { arch: 'tinyvgg', mode: 'scratch', accuracy, n: ev.n } } })).then(() => f);
    };
    const cli = path.join(repoRoot(), 'packages', 'evaluate', 'src', 'cli', 'evaluate.ts');
    const tsx = path.join(repoRoot(), 'node_modules', '.bin', 'tsx');
    const args = (f: string) => [cli, '--run', runDir, '--no-report', '--backend', 'wasm', '--check', '--baseline', f];

    // 1 epoch at 16 px is near chance, so there is room above the run for a worse baseline.
    expect(ev.correct).toBeLessThanOrEqual(ev.n - 2);
    // Two images better than the run: below baseline minus one image → fail.
    const high = await baselineFile('high', (ev.correct + 2) / ev.n);
    const failed = await run(tsx, args(high)).then(
      () => null,
      (e: { code: number; stdout: string }) => e,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stdout).toMatch(new RegExp(`FAIL demo: .* accuracy ${ev.accuracy.toFixed(4)} \\(${ev.correct}/${ev.n}\\) < baseline ${((ev.correct + 2) / ev.n).toFixed(4)}`));
    // One image better than the run: within the tolerance → pass.
    const fair = await baselineFile('fair', (ev.correct + 1) / ev.n);
    const ok = await run(tsx, args(fair));
    expect(ok.stdout).toMatch(/accuracy check passed/);
  });

  it('evaluates another dataset or split into its own file, leaving evaluation.json (what promotion uses) alone', async () => {
    const own = await fs.readFile(path.join(runDir, 'evaluation.json'), 'utf8');
    const other = path.join(dir, 'other');
    await generateDemoDataset(other, { seed: 7, trainPerClass: 2, testPerClass: 2, width: 64, height: 48 });
    const ev = await evaluateRun(runDir, { data: other });
    expect(ev.n).toBe(4);
    expect(ev.data).toMatchObject({ root: other, sameAsTraining: false });
    expect(JSON.parse(await fs.readFile(path.join(runDir, 'evaluation-test-other.json'), 'utf8'))).toEqual(ev);

    const onTrain = await evaluateRun(runDir, { split: 'train' });
    expect(onTrain).toMatchObject({ split: 'train', data: { sameAsTraining: true } });
    expect(JSON.parse(await fs.readFile(path.join(runDir, 'evaluation-train.json'), 'utf8'))).toEqual(onTrain);

    expect(await fs.readFile(path.join(runDir, 'evaluation.json'), 'utf8')).toBe(own);
    expect((await readEvaluation(runDir)).split).toBe('test');
  });
});
