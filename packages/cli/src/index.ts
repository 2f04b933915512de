// @parts/cli: what every thin CLI of the workspace shares (argument parsers, running and exiting,
// argv as pnpm passes it) and the workspace paths (repository root, served model, demo dataset,
// paths typed by the user). Depends on no other @parts package.
export { int, positiveInt, num, intAtLeast, numAtLeast } from './args';
export { runCli, cliArgv } from './run';
export type { RunCliOptions } from './run';
export { repoRoot, defaultDemoDir, servedModelDir, resolveUserPath, cacheDir, CACHE_APP_NAME } from './paths';
export { NEXT_STEP, missingModelError } from './next-step';
export * from './settings/index';
