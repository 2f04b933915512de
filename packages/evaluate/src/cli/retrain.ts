#!/usr/bin/env tsx
// pnpm retrain: a candidate trained with the served model's recipe on the newest dataset version,
// compared with the served model on the same photos, promoted only when not worse (retrain.ts).
// Progress lines on stderr; the decision (or, with --json, the whole report) on stdout.
// Exit status: 0 when the retrain ran, promoted or not (the message says why not); 1 on errors.
import { Command } from 'commander';
import { addSettingOptions, RETRAIN_SETTINGS, runCli } from '@parts/cli';
import { buildDatasetVersion, defaultVersionsRoot, formatVersionSummary, latestVersion, readManifest, readReviewedFile } from '@parts/data';
import { retrain } from '../retrain';
import { resolveUserPath } from './common';

const program = addSettingOptions(
  new Command('retrain')
    .description(
    "Train a candidate with the served model's recipe on the newest dataset version, compare it with the served model on the same photos (the version's test split, its reviewed photos, the known unknowns; McNemar), and promote it only when it is not worse by the CI gate's rule. Exits 0 whether or not it promoted; 1 on errors.",
  ),
  RETRAIN_SETTINGS,
);

runCli(
  program,
  async (o) => {
    const log = (l: string) => process.stderr.write(l + '\n');
    const root = o.root ? resolveUserPath(o.root) : defaultVersionsRoot();
    if (o.reviewed && o.version !== undefined) throw new Error('--reviewed builds a new version and trains on it; it cannot be combined with --version');
    let version: number | undefined = o.version;
    if (o.reviewed) {
      let base = o.base ? resolveUserPath(o.base) : undefined;
      if (!base) {
        const latest = await latestVersion(root);
        if (!latest) throw new Error(`--base is needed with --reviewed: ${root} has no version yet to take the base dataset from`);
        base = (await readManifest(latest.dir)).base.root;
      }
      const built = await buildDatasetVersion({ base, root, reviewed: await readReviewedFile(resolveUserPath(o.reviewed)), log: (l) => log(`dataset: ${l}`) });
      log(formatVersionSummary(built));
      version = built.version;
    } else if (o.base) {
      throw new Error('--base applies only with --reviewed');
    }
    const report = await retrain({
      versionsRoot: root,
      version,
      target: o.target ? resolveUserPath(o.target) : undefined,
      runsDir: o.runs ? resolveUserPath(o.runs) : undefined,
      backend: o.backend,
      parity: o.parity,
      log,
    });
    process.stdout.write(o.json ? JSON.stringify(report, null, 2) + '\n' : report.message + '\n');
    return 0;
  },
  { errorPrefix: 'retrain' },
);
