#!/usr/bin/env tsx
// pnpm retrain: a candidate trained with the served model's recipe on the newest dataset version,
// compared with the served model on the same photos, promoted only when not worse (retrain.ts).
// Progress lines on stderr; the decision (or, with --json, the whole report) on stdout.
// Exit status: 0 when the retrain ran, promoted or not (the message says why not); 1 on errors.
import { Command } from 'commander';
import { addSettingOptions, RETRAIN_SETTINGS, runCli, servedModelDir } from '@parts/cli';
import { buildDatasetVersion, defaultVersionsRoot, formatVersionSummary, latestVersion, readManifest, readReviewedFile } from '@parts/data';
import { retrain } from '../retrain';
import { listReviewedPhotos } from '@parts/serve';
import { readRunConfig } from '@parts/train';
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
    if (o.reviewed && o.dataDir) throw new Error('--reviewed and --data-dir both give the reviewed photos: give one');
    const reviewedFrom = o.reviewed ? '--reviewed' : o.dataDir ? '--data-dir' : undefined;
    if (reviewedFrom && o.version !== undefined) throw new Error(`${reviewedFrom} builds a new version and trains on it; it cannot be combined with --version`);
    let version: number | undefined = o.version;
    if (reviewedFrom) {
      let base = o.base ? resolveUserPath(o.base) : undefined;
      if (!base) {
        const latest = await latestVersion(root);
        if (latest) base = (await readManifest(latest.dir)).base.root;
        else {
          // The first version starts from the dataset the served model was trained on.
          const target = o.target ? resolveUserPath(o.target) : servedModelDir();
          base = (await readRunConfig(target))?.data?.root;
          if (!base) throw new Error(`--base is needed with ${reviewedFrom}: ${root} has no version yet, and ${target} records no training dataset`);
        }
      }
      const reviewed = o.reviewed ? await readReviewedFile(resolveUserPath(o.reviewed)) : await listReviewedPhotos(resolveUserPath(o.dataDir), { db: o.db });
      if (!reviewed.length) {
        const where = o.reviewed ?? (o.db ? `the prediction log of --db` : `${o.dataDir} (a prediction log folder needs log.sqlite with decisions)`);
        throw new Error(`${reviewedFrom}: no reviewed photos in ${where}: nothing new to train on`);
      }
      log(`progress 0.02 building a dataset version from ${reviewed.length} reviewed photo(s)`);
      const built = await buildDatasetVersion({ base, root, reviewed, log: (l) => log(`dataset: ${l}`) });
      log(formatVersionSummary(built));
      version = built.version;
    } else if (o.base) {
      throw new Error('--base applies only with --reviewed or --data-dir');
    }
    const report = await retrain({
      versionsRoot: root,
      version,
      target: o.target ? resolveUserPath(o.target) : undefined,
      runsDir: o.runs ? resolveUserPath(o.runs) : undefined,
      backend: o.backend,
      parity: o.parity,
      db: o.db,
      log,
    });
    process.stdout.write(o.json ? JSON.stringify(report, null, 2) + '\n' : report.message + '\n');
    return 0;
  },
  { errorPrefix: 'retrain' },
);
