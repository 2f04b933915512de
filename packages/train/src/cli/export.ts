#!/usr/bin/env tsx
// `pnpm export --format onnx`: writes a model folder's classifier as ONNX (model.onnx beside model.json
// by default), checked on ONNX Runtime against the model's parity record first (see exportOnnxFile).
import { Command } from 'commander';
import { initBackend } from '@parts/backend';
import { addSettingOptions, EXPORT_SETTINGS, missingModelError, resolveUserPath, runCli, servedModelDir } from '@parts/cli';
import { exportOnnxFile } from '@parts/models';

const program = addSettingOptions(
  new Command('export').description('Export a saved model for another runtime (ONNX), checked against its parity record'),
  EXPORT_SETTINGS,
);

runCli(program, async (o) => {
  if (!o.format) throw new Error("--format is required: the file format to write (onnx)");
  const modelDir = o.model ? resolveUserPath(o.model) : servedModelDir();
  const missing = missingModelError(modelDir, 'model to export');
  if (missing) throw missing;
  // The tfjs model is only read (weights and graph); the cpu backend needs nothing native.
  await initBackend('cpu', () => {});
  const r = await exportOnnxFile(modelDir, { out: o.out ? resolveUserPath(o.out) : undefined });
  process.stdout.write(`wrote ${r.file} (${(r.bytes / 1e6).toFixed(1)} MB)\n`);
  if (r.parity) process.stdout.write(`checked against the ${r.checkedAgainst} on ONNX Runtime: ${r.parity.photos} photo(s), max |dp| ${r.parity.maxAbsDiff.toExponential(1)} <= ${r.parity.tolerance}\n`);
  if (r.note) process.stderr.write(`${r.note}\n`);
  return 0;
});
