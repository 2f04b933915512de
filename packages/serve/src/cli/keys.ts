#!/usr/bin/env tsx
// pnpm keys add <name> | list | revoke <name-or-id>: the API keys of `pnpm serve`, in its data
// folder's database. A thin layer over src/auth/api-keys.ts; the new key is printed once, on stdout.
import { Argument, Command } from 'commander';
import { addSettingOptions, KEYS_SETTINGS, resolveUserPath, runCli, servedModelDir } from '@parts/cli';
import { defaultDataDir, formatKeys, openAccessDatabase } from '../auth/admin';
import { createApiKey, listApiKeys, revokeApiKey } from '../auth/api-keys';

const program = addSettingOptions(
  new Command('keys')
    .description('API keys for /api/* of pnpm serve: `add <name>` prints a new key once (only its SHA-256 is stored), `list`, `revoke <name-or-id>` (the server answers 403 to it)')
    .addArgument(new Argument('<action>', 'what to do').choices(['add', 'list', 'revoke']))
    .addArgument(new Argument('[name]', 'the key name (add), or its name or id (revoke)')),
  KEYS_SETTINGS,
);

runCli(
  program,
  async (o: { dataDir?: string; db?: string }, [action, name]) => {
    const dataDir = o.dataDir ? resolveUserPath(o.dataDir) : await defaultDataDir(servedModelDir());
    if (action !== 'list' && !name) throw new Error(`pnpm keys ${action} needs a ${action === 'add' ? 'name' : 'key name or id'}`);
    const { db, file } = await openAccessDatabase(dataDir, o.db);
    try {
      if (action === 'list') process.stdout.write(formatKeys(await listApiKeys(db)));
      else if (action === 'add') {
        const k = await createApiKey(db, name!);
        process.stderr.write(`API key "${k.name}" (id ${k.id}) added to ${file}. It is shown now and never again (the server keeps only its SHA-256); send it as Authorization: Bearer <key> or X-API-Key: <key>.\n`);
        process.stdout.write(`${k.key}\n`);
      } else {
        const k = await revokeApiKey(db, name!);
        process.stdout.write(`revoked API key "${k.name}" (id ${k.id}, ${k.prefix}…) at ${k.revokedAt}\n`);
      }
    } finally {
      await db.destroy();
    }
  },
  { errorPrefix: 'keys' },
);
