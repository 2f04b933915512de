#!/usr/bin/env tsx
// pnpm diagnose: what this machine can run (Node, pnpm, each compute backend and why not, Vulkan,
// cached weights, browser and fonts, datasets, the promoted model), each with a verdict and a fix.
import { Command } from 'commander';
import { addSettingOptions, DIAGNOSE_SETTINGS, runCli } from '@parts/cli';
import { exitCode, formatReport, runDiagnose } from '../diagnose/index';

const program = addSettingOptions(
  new Command('diagnose')
    .description('Check this machine: Node and pnpm, compute backends (and why a GPU is not used), Vulkan, cached ImageNet weights, Chromium and fonts, datasets, the promoted model. Exits 1 only when Node, pnpm or every backend fails.'),
  DIAGNOSE_SETTINGS,
);

runCli(program, async (o) => {
  const report = await runDiagnose();
  process.stdout.write(o.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
  return exitCode(report);
});
