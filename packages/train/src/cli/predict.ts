#!/usr/bin/env tsx
import { Command, Option } from 'commander';
import { BACKEND_NAMES, initBackend } from '@parts/backend';
import { missingModelError, resolveUserPath, runCli, servedModelDir } from '@parts/cli';
import { disposeClassifier, loadClassifier } from '@parts/models';
import { expandInputs, predictFiles } from '../predict';

const program = new Command('predict')
  .description('Classify images (files or folders) with a saved model.')
  .argument('<inputs...>', 'image files or folders')
  .option('--model <dir>', 'model folder or run folder (default: the promoted model packages/serve/model)')
  .option('--json', 'print one JSON object per line: {file, label, probabilities} or {file, error}')
  .addOption(new Option('--backend <b>', 'compute backend').choices(BACKEND_NAMES).default('auto'));

runCli(program, async (o, args) => {
  const modelDir = o.model ? resolveUserPath(o.model) : servedModelDir();
  const missing = missingModelError(modelDir);
  if (missing) throw missing;
  await initBackend(o.backend, (m) => process.stderr.write(m + '\n'));
  const c = await loadClassifier(modelDir);
  process.stderr.write(`model: ${c.dir} (${c.meta.arch}/${c.meta.mode}, ${c.meta.labels.join(', ')})\n`);
  const files = await expandInputs(args.map(resolveUserPath));
  if (!files.length) throw new Error(`no images found in ${args.join(', ')}`);
  let failed = 0;
  for await (const r of predictFiles(c, files)) {
    if (r.error) failed++;
    if (o.json) {
      process.stdout.write(JSON.stringify(r) + '\n');
    } else if (r.error) {
      process.stdout.write(`${r.file}\tERROR\t${r.error}\n`);
    } else {
      const probs = Object.entries(r.probabilities!).map(([k, v]) => `${k}=${v.toFixed(3)}`).join(' ');
      process.stdout.write(`${r.file}\t${r.label}\t${probs}\n`);
    }
  }
  disposeClassifier(c);
  if (failed) process.stderr.write(`${failed} of ${files.length} file(s) failed\n`);
  return failed ? 1 : 0;
});
