#!/usr/bin/env tsx
// pnpm dataset build|list: dataset versions (base dataset + reviewed photos) in <root>/v<N>/.
// A thin layer over dataset-version.ts; progress lines go to stderr, the summary to stdout.
import { Argument, Command } from 'commander';
import { addSettingOptions, DATASET_SETTINGS, resolveUserPath, runCli } from '@parts/cli';
import { buildDatasetVersion, defaultVersionsRoot, formatVersionSummary, latestVersion, listVersions, readManifest, readReviewedFile, versionDir } from '../dataset-version';

const program = addSettingOptions(
  new Command('dataset')
    .description('Dataset versions: `build` writes <root>/v<N> (the base dataset plus the reviewed photos, with manifest.json); `list` shows the versions.')
    .addArgument(new Argument('<action>', 'what to do').choices(['build', 'list'])),
  DATASET_SETTINGS,
);

runCli(
  program,
  async (o: { root?: string; base?: string; reviewed?: string }, args) => {
    const root = o.root ? resolveUserPath(o.root) : defaultVersionsRoot();
    if (args[0] === 'list') {
      const versions = await listVersions(root);
      if (!versions.length) process.stdout.write(`no dataset versions in ${root}\n`);
      for (const v of versions) {
        const m = await readManifest(versionDir(root, v));
        const rev = m.photos.filter((p) => p.origin === 'review' && p.label !== null).length;
        process.stdout.write(`v${v}\t${m.createdAt}\t${m.classes.join(',')}\t${m.photos.length} photos (${rev} reviewed in classes, ${m.unknowns} known unknowns, ${m.pending.length} pending)\n`);
      }
      return 0;
    }
    let base = o.base ? resolveUserPath(o.base) : undefined;
    if (!base) {
      const latest = await latestVersion(root);
      if (!latest) throw new Error(`--base is needed: ${root} has no version yet to take the base dataset from`);
      base = (await readManifest(latest.dir)).base.root;
    }
    const reviewed = o.reviewed ? await readReviewedFile(resolveUserPath(o.reviewed)) : [];
    const built = await buildDatasetVersion({ base, root, reviewed, log: (l) => process.stderr.write(`dataset: ${l}\n`) });
    process.stdout.write(formatVersionSummary(built) + '\n');
    return 0;
  },
  { errorPrefix: 'dataset' },
);
