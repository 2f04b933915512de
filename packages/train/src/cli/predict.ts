#!/usr/bin/env tsx
import { Command } from 'commander';
import { initBackend } from '@parts/backend';
import { addSettingOptions, missingModelError, PREDICT_SETTINGS, resolveUserPath, runCli, servedModelDir } from '@parts/cli';
import { loadPredictor } from '@parts/models';
import { expandInputs, formatPredictionLine, predictFiles } from '../predict';

const program = addSettingOptions(
  new Command('predict')
    .description('Classify images (files or folders) with a saved model; photos unlike the training data are answered "unknown".')
    .argument('<inputs...>', 'image files or folders'),
  PREDICT_SETTINGS,
);

runCli(program, async (o, args) => {
  const modelDir = o.model ? resolveUserPath(o.model) : servedModelDir();
  const missing = missingModelError(modelDir);
  if (missing) throw missing;
  const backend = await initBackend(o.backend, (m) => process.stderr.write(m + '\n'));
  const p = await loadPredictor(modelDir, { enabled: o.unknown, threshold: o.unknownThreshold }, { engine: o.engine, backend: backend.name });
  const c = p;
  const ood = p.ood.active
    ? `unknown below ${p.ood.method} score ${p.ood.threshold}${p.ood.thresholdOverridden ? ' (--unknown-threshold)' : ''}, temperature ${p.ood.temperature.toFixed(3)}`
    : p.ood.reason;
  process.stderr.write(`model: ${c.dir} (${c.meta.arch}/${c.meta.mode}, ${c.meta.labels.join(', ')}); ${ood}\n`);
  process.stderr.write(`engine: ${p.engine.detail} (${p.engine.reason})\n`);
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
