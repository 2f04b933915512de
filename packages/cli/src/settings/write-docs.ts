#!/usr/bin/env tsx
// pnpm settings:docs: rewrites the README's generated option and environment tables from the
// settings schema; with --check it only says whether they are stale (exit 1).
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../paths';
import { withGeneratedTables } from './docs';

const file = path.join(repoRoot(), 'README.md');
const text = readFileSync(file, 'utf8');
const next = withGeneratedTables(text);
if (process.argv.includes('--check')) {
  if (next !== text) {
    console.error('README.md: the settings tables are stale; run `pnpm settings:docs`');
    process.exit(1);
  }
  console.log('README.md: settings tables up to date');
} else if (next !== text) {
  writeFileSync(`${file}.tmp`, next);
  renameSync(`${file}.tmp`, file);
  console.log('README.md: settings tables rewritten');
} else console.log('README.md: settings tables up to date');
