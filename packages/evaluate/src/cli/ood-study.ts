#!/usr/bin/env tsx
// OOD study: leave-classes-out rotations + far-OOD images, every method compared; writes a JSON.
//   pnpm exec tsx packages/evaluate/src/cli/ood-study.ts --data ../shared/datasets/bolts-nuts \
//     --leave-out M12_nut,M5_bolt --leave-out M6_nut,M8_bolt --epochs 12 --out ood-study.json
// `--run i=DIR` reuses a run already trained on rotation i's kept classes.
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { initBackend } from '@parts/backend';
import { addSettingOptions, OOD_STUDY_SETTINGS, resolveUserPath, runCli } from '@parts/cli';
import { writeFileAtomic } from '@parts/models';
import { runOodStudy } from '../ood-study';

const program = addSettingOptions(
  new Command('ood-study')
    .description('Measure OOD detection methods (msp, energy, mahalanobis, knn) by leaving classes out of training, and on generated far-OOD images.'),
  OOD_STUDY_SETTINGS, { defaults: { work: path.join(os.tmpdir(), 'parts-ood-study') } }
);

runCli(program, async (o) => {
  if (!o.data) throw new Error('give --data: a dataset with at least 4 classes');
  if (!o.leaveOut.length) throw new Error('give at least one --leave-out a,b');
  await initBackend(o.backend, (m) => process.stderr.write(m + '\n'));
  const runs: Record<number, string> = {};
  for (const r of o.run as string[]) {
    const m = /^(\d+)=(.+)$/.exec(r);
    if (!m) throw new Error(`--run must be i=DIR (got ${r})`);
    runs[Number(m[1])] = resolveUserPath(m[2]);
  }
  const result = await runOodStudy({
    data: resolveUserPath(o.data),
    rotations: (o.leaveOut as string[]).map((s) => s.split(',').map((c) => c.trim()).filter(Boolean)),
    runs,
    workDir: resolveUserPath(o.work),
    train: { arch: o.arch, epochs: o.epochs, seed: o.seed, backend: o.backend },
    acceptRate: o.acceptRate,
    log: (m) => process.stderr.write(m + '\n'),
  });
  const out = resolveUserPath(o.out);
  await writeFileAtomic(out, JSON.stringify(result, null, 2) + '\n');
  for (const r of result.summary) {
    process.stdout.write(
      `${r.method.padEnd(12)} AUROC near ${r.meanAurocNear.toFixed(3)} far ${r.meanAurocFar.toFixed(3)}  FPR95 near ${r.meanFpr95Near.toFixed(2)} far ${r.meanFpr95Far.toFixed(2)}\n`,
    );
  }
  process.stdout.write(`recommended: ${result.recommended}; written ${out}\n`);
  return 0;
});
