// The demo-dataset fallback of the CLIs: a missing --data means the embedded demo dataset.
import { existsSync } from 'node:fs';
import { defaultDemoDir, resolveUserPath } from '@parts/cli';
import { generateDemoDataset } from './demo';

/** The embedded demo dataset's folder, generated first if missing (saying so on stderr). */
export async function ensureDemoDataset(): Promise<string> {
  const dir = defaultDemoDir();
  if (!existsSync(dir)) {
    process.stderr.write(`no --data given: generating the demo dataset in ${dir}\n`);
    await generateDemoDataset(dir);
  }
  return dir;
}

/** The dataset a CLI works on: the user's --data if given, else the demo dataset (generated if missing). */
export async function dataOrDemo(data: string | undefined): Promise<string> {
  return data ? resolveUserPath(data) : ensureDemoDataset();
}
