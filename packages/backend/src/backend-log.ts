// What initBackend prints. By default one line: the backend that runs and, in a few words, why the
// ones before it were skipped. With verbose output (PARTS_VERBOSE=1, set by every CLI's --verbose)
// also the internals: each skipped backend's full error and the kernels registered for wasm.
import * as tf from '@tensorflow/tfjs-core';
import type { BackendAttempt, BackendInfo } from './types';
import { envSetting, type RawEnv } from '@parts/cli';

/** Whether internals are printed: PARTS_VERBOSE=1 (a bad value is an error naming it). */
export function verboseFromEnv(env?: RawEnv): boolean {
  return envSetting('PARTS_VERBOSE', env) === true;
}

/** A skipped backend's reason in a few words: a missing optional package is 'not installed'. */
export function shortReason(a: BackendAttempt): string {
  if (/Cannot find (package|module)|ERR_MODULE_NOT_FOUND/.test(a.error)) return 'not installed';
  return a.error;
}

/** The one start-up line, e.g. `backend: wasm on CPU (wasm SIMD, 1 thread) (skipped webgpu: no Vulkan loader ...)`. */
export function backendLine(info: BackendInfo, verbose: boolean): string {
  const skipped = info.tried.map((t) => `${t.backend}: ${verbose ? t.error : shortReason(t)}`).join('; ');
  const hint = info.tried.length && !verbose ? ' — `pnpm diagnose` explains' : '';
  return `backend: ${info.name} on ${info.device}${skipped ? ` (skipped ${skipped})` : ''}${hint}`;
}

/**
 * The cpu backend prints a multi-line "Hi, looks like you are running TensorFlow.js in Node.js ...
 * install our node backend" banner on its first tensor; the start-up line already says which backend
 * runs and `pnpm diagnose` why. Makes that first write with tfjs' warnings off (PROD), then restores them.
 */
export function firstCpuWriteQuietly(): void {
  const prod = tf.env().getBool('PROD');
  tf.env().set('PROD', true);
  try {
    tf.tensor1d([0]).dispose();
  } finally {
    tf.env().set('PROD', prod);
  }
}
