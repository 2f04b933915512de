// One run of the CI gate's leave-classes-out check (evaluation/baseline.json `ood`, as
// packages/evaluate/test/ci-gate.test.ts runs it) with a chosen seed, printing one JSON line:
// the figures, the run's test accuracy, the kernels it trained on and its training time (wall and
// process CPU). Used to see how much those figures move between seeds and between the wasm and the
// oneDNN kernels (PARTS_ONEDNN picks them; one process per run, since the choice is made at start):
//   nice -n 19 pnpm exec tsx packages/evaluate/bench/ood-gate-seed.ts --seed 1 [--task bolts-nuts-leave-out]
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { onednnKernelsState } from '@parts/backend';
import { repoRoot } from '@parts/cli';
import { train } from '@parts/train';
import { checkOodFigures, makeHoldoutDataset, measureLeaveOut, readBaseline } from '../src/index';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const root = repoRoot();
const baseline = await readBaseline(path.join(root, 'evaluation', 'baseline.json'));
const name = arg('--task') ?? Object.keys(baseline.ood ?? {})[0];
const task = name ? baseline.ood?.[name] : undefined;
if (!name || !task) throw new Error(`evaluation/baseline.json: no ood task ${JSON.stringify(name)}`);
const seed = Number(arg('--seed') ?? (task.train as { seed?: number } | undefined)?.seed ?? 42);
if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer (got ${arg('--seed')})`);
const source = path.resolve(root, '../shared/datasets', task.dataset);
const work = await fs.mkdtemp(path.join(os.tmpdir(), `ood-gate-${name}-`));
try {
  const holdout = await makeHoldoutDataset(source, task.leaveOut, path.join(work, 'data'));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const run = await train({ ...(task.train ?? {}), seed, arch: task.arch, data: holdout.root, out: path.join(work, 'runs'), quiet: true });
  const trainS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const kernels = onednnKernelsState();
  const f = await measureLeaveOut(run.runDir, task, source, path.join(work, 'data'));
  const line = checkOodFigures(name, task, f);
  const test = run.metrics.test;
  console.log(JSON.stringify({
    task: name, seed, kernels: kernels.active ? 'onednn' : 'wasm', kernelsDetail: kernels.detail,
    auroc: f.auroc, rejection: f.rejection, n: f.n, knownAccepted: f.knownAccepted, detector: f.detector,
    testCorrect: test?.correct, testN: test?.n, epochsRun: run.metrics.epochsRun, bestEpoch: run.metrics.bestEpoch,
    trainWallS: Math.round(trainS), trainCpuS: Math.round((cpu.user + cpu.system) / 1e6), load: os.loadavg().map((x) => x.toFixed(2)).join(' '),
    pass: line.pass, message: line.message,
  }));
} finally {
  await fs.rm(work, { recursive: true, force: true });
}
