// Worker threads do not inherit tsx's loader in Node 20, so each worker registers it
// before importing the TypeScript worker (and the workspace packages, which are .ts too).
import { register } from 'tsx/esm/api';

register();
await import(new URL('./worker.ts', import.meta.url).href);
