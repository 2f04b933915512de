#!/usr/bin/env tsx
import { Command, Option } from 'commander';
import { BACKEND_NAMES, initBackend } from '@parts/backend';
import { missingModelError, num, resolveUserPath, runCli, servedModelDir } from '@parts/cli';
import { loadPredictor } from '@parts/models';
import { expandInputs, formatPredictionLine, predictFiles } from '../predict';

const program = new Command('predict')
  .description('Classify images (files or folders) with a saved model; photos unlike the training data are answered "unknown".')
  .argument('<inputs...>', 'image files or folders')
  .option('--model <dir>', 'model folder or run folder (default: the promoted model packages/serve/model)')
  .option('--json', 'print one JSON object per line: {file, label (null when unknown), unknown, top, probability, probabilities, ood} or {file, error}')
  .option('--unknown-threshold <x>', "accept a photo as known when its OOD score >= x (replaces ood.json's threshold)", num)
  .option('--no-unknown', 'plain classification: ignore ood.json (never unknown, uncalibrated probabilities)')
  .option('--explain <dir>', 'write <name>.heatmap.png and <name>.overlay.png (the evidence for the top class: contrast CAM at the Grad-CAM layer, docs/explain.md) per photo into dir')
  .addOption(new Option('--backend <b>', 'compute backend').choices(BACKEND_NAMES).default('auto'));

runCli(program, async (o, args) => {
  const modelDir = o.model ? resolveUserPath(o.model) : servedModelDir();
  const missing = missingModelError(modelDir);
  if (missing) throw missing;
  await initBackend(o.backend, (m) => process.stderr.write(m + '\n'));
  const p = await loadPredictor(modelDir, { enabled: o.unknown, threshold: o.unknownThreshold });
  const c = p.classifier;
  const ood = p.ood.active
    ? `unknown below ${p.ood.method} score ${p.ood.threshold}${p.ood.thresholdOverridden ? ' (--unknown-threshold)' : ''}, temperature ${p.ood.temperature.toFixed(3)}`
    : p.ood.reason;
  process.stderr.write(`model: ${c.dir} (${c.meta.arch}/${c.meta.mode}, ${c.meta.labels.join(', ')}); ${ood}\n`);
  const files = await expandInputs(args.map(resolveUserPath));
  if (!files.length) throw new Error(`no images found in ${args.join(', ')}`);
  let failed = 0;
  try {
    for await (const r of predictFiles(p, files, { explainDir: o.explain ? resolveUserPath(o.explain) : undefined })) {
      if (r.error) failed++;
      process.stdout.write((o.json ? JSON.stringify(r) : formatPredictionLine(r)) + '\n');
    }
  } finally {
    p.dispose();
  }
  if (failed) process.stderr.write(`${failed} of ${files.length} file(s) failed\n`);
  return failed ? 1 : 0;
});
