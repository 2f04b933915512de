#!/usr/bin/env tsx
// pnpm users add <name> | list | remove <name> | passwd <name>: reviewer accounts of the review page,
// in pnpm serve's data folder's database. The password is asked on the terminal (twice, not shown)
// or read from standard input with --password-stdin; never from an argument. A thin layer over
// src/auth/reviewers.ts.
import { Argument, Command } from 'commander';
import { addSettingOptions, resolveUserPath, runCli, servedModelDir, USERS_SETTINGS } from '@parts/cli';
import { defaultDataDir, formatReviewers, openAccessDatabase, readNewPassword } from '../auth/admin';
import { addReviewer, listReviewers, removeReviewer, setReviewerPassword } from '../auth/reviewers';

const program = addSettingOptions(
  new Command('users')
    .description('Reviewer accounts for /review of pnpm serve: `add <name>`, `list`, `remove <name>` (ends its sessions), `passwd <name>` (ends its sessions); passwords are hashed with scrypt')
    .addArgument(new Argument('<action>', 'what to do').choices(['add', 'list', 'remove', 'passwd']))
    .addArgument(new Argument('[name]', 'the reviewer name')),
  USERS_SETTINGS,
);

runCli(
  program,
  async (o: { dataDir?: string; db?: string; passwordStdin?: boolean }, [action, name]) => {
    const dataDir = o.dataDir ? resolveUserPath(o.dataDir) : await defaultDataDir(servedModelDir());
    if (action !== 'list' && !name) throw new Error(`pnpm users ${action} needs a reviewer name`);
    // The password before the database: a wrong or missing one changes nothing.
    const password = action === 'add' || action === 'passwd' ? await readNewPassword({ fromStdin: o.passwordStdin === true }) : '';
    const { db, file } = await openAccessDatabase(dataDir, o.db);
    try {
      if (action === 'list') process.stdout.write(formatReviewers(await listReviewers(db)));
      else if (action === 'add') {
        await addReviewer(db, name!, password);
        process.stdout.write(`reviewer "${name}" added to ${file}: sign in at /login of pnpm serve\n`);
      } else if (action === 'passwd') {
        await setReviewerPassword(db, name!, password);
        process.stdout.write(`password of "${name}" changed; its sessions are ended\n`);
      } else {
        await removeReviewer(db, name!);
        process.stdout.write(`reviewer "${name}" removed, with its sessions (its decisions stay in the log)\n`);
      }
    } finally {
      await db.destroy();
    }
  },
  { errorPrefix: 'users' },
);
