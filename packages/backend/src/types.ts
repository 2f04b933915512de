export type { BackendName } from '@parts/cli';
import type { BackendName } from '@parts/cli';

export interface BackendAttempt {
  backend: string;
  error: string;
}

/** What ran, recorded in every run's config.json and printed at start-up. */
export interface BackendInfo {
  requested: BackendName;
  /** tf.getBackend() after initialisation: 'tensorflow' | 'webgpu' | 'wasm' | 'cpu'. */
  name: string;
  /** Human description of the device, e.g. 'CPU (wasm, SIMD, 1 thread)' or the GPU adapter. */
  device: string;
  /** Backends tried before this one, with why each was skipped. */
  tried: BackendAttempt[];
}
