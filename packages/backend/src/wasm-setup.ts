import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

let pathsSet = false;

/**
 * Points the wasm backend at the .wasm binaries in its own package's dist folder, so they are found
 * wherever this code runs from (tsx, vitest workers, a bundled CLI). Must run before the backend starts.
 */
export function pointWasmAtItsBinaries(): void {
  if (pathsSet) return;
  const require = createRequire(import.meta.url);
  const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  setWasmPaths(dist + path.sep);
  pathsSet = true;
}

/** e.g. 'CPU (wasm SIMD, 1 thread)'. */
export async function describeWasmDevice(): Promise<string> {
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const threads = getThreadsCount();
  return `CPU (wasm${simd ? ' SIMD' : ''}, ${threads} thread${threads === 1 ? '' : 's'})`;
}
