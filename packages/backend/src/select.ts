import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-layers' Node bundle is what registers tfjs-core's gradient functions; without it tf.grad fails
// on every backend ("gradient function not found"). Training always needs it, so load it here.
import '@tensorflow/tfjs-layers';
import type { BackendAttempt, BackendInfo, BackendName } from './types';
import { describeWasmDevice, startWasmBackend, wasmThreadsInUse } from './wasm-setup';
import { startOnednnKernels, onednnKernelsState } from './onednn/index';
import { setupWebGPU } from './webgpu/index';
import { registerWasmTrainingKernels } from './wasm-kernels/index';
import { backendLine, firstCpuWriteQuietly, verboseFromEnv } from './backend-log';
import { BACKEND_NAMES as SCHEMA_BACKEND_NAMES } from '@parts/cli';

/** The backends, listed once in the settings schema (@parts/cli). */
export const BACKEND_NAMES: readonly BackendName[] = SCHEMA_BACKEND_NAMES;

/** One candidate: `prepare` loads what it needs (throws with the reason if it can't) and names the tfjs backend. */
interface Candidate {
  label: string;
  /** `auto` = chosen by 'auto' rather than named explicitly. */
  prepare: (auto: boolean) => Promise<{ backend: string; device: string }>;
}

async function importTfjsNode(pkg: '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node'): Promise<void> {
  try {
    await import(pkg);
  } catch (e) {
    throw new Error(`${pkg} did not load (optional; needs libtensorflow): ${reason(e)}`);
  }
  if (tf.findBackendFactory('tensorflow') == null) throw new Error(`${pkg} loaded but registered no 'tensorflow' backend`);
}

const candidates: Record<string, Candidate> = {
  'tfjs-node-gpu': {
    label: 'tfjs-node-gpu',
    prepare: async () => {
      await importTfjsNode('@tensorflow/tfjs-node-gpu');
      return { backend: 'tensorflow', device: 'GPU (libtensorflow CUDA)' };
    },
  },
  webgpu: {
    label: 'webgpu',
    prepare: async (auto) => {
      const adapter = await setupWebGPU();
      // A software adapter (lavapipe, SwiftShader) is slower than wasm: only use it when asked for.
      if (auto && adapter.software) throw new Error(`only a software adapter was found (${adapter.device})`);
      return { backend: 'webgpu', device: `GPU (${adapter.device})` };
    },
  },
  'tfjs-node': {
    label: 'tfjs-node',
    prepare: async () => {
      await importTfjsNode('@tensorflow/tfjs-node');
      return { backend: 'tensorflow', device: `CPU (libtensorflow, ${os.cpus()[0]?.model ?? 'unknown CPU'})` };
    },
  },
  wasm: {
    label: 'wasm',
    prepare: async () => {
      // Starts it here: the threaded build needs its set-up around the backend's first start.
      await startWasmBackend();
      return { backend: 'wasm', device: '' };
    },
  },
  cpu: {
    label: 'cpu',
    prepare: async () => ({ backend: 'cpu', device: 'CPU (plain JavaScript, 1 thread)' }),
  },
};

const ORDER: Record<BackendName, string[]> = {
  auto: ['tfjs-node-gpu', 'webgpu', 'tfjs-node', 'wasm', 'cpu'],
  tensorflow: ['tfjs-node-gpu', 'tfjs-node'],
  webgpu: ['webgpu'],
  wasm: ['wasm'],
  cpu: ['cpu'],
};

/** The first line of an error message: native-binding failures carry long require stacks. */
function reason(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0]!.trim() || 'unknown error';
}

const cache = new Map<BackendName, BackendInfo>();

export interface InitBackendOptions {
  /** Also log internals (kernel registration, full reasons). Default: PARTS_VERBOSE from the environment. */
  verbose?: boolean;
}

/**
 * Starts a TensorFlow.js backend and says which one runs on what. 'auto' tries tfjs-node-gpu, WebGPU
 * (only if an adapter is found), tfjs-node, wasm, cpu in that order; an explicit name tries only
 * that one ('tensorflow': tfjs-node-gpu then tfjs-node) and fails with every reason if it can't start.
 * When wasm is chosen, the gradient kernels it lacks are registered so that models train on it.
 * Calling again with the same request returns the same info object. Logs one line unless verbose.
 */
export async function initBackend(
  requested: BackendName = 'auto',
  log: (msg: string) => void = (m) => console.error(m),
  { verbose = verboseFromEnv() }: InitBackendOptions = {},
): Promise<BackendInfo> {
  if (!BACKEND_NAMES.includes(requested)) {
    throw new Error(`unknown backend '${String(requested)}': expected one of ${BACKEND_NAMES.join(', ')}`);
  }
  const cached = cache.get(requested);
  if (cached && tf.getBackend() === cached.name) return cached;

  const tried: BackendAttempt[] = [];
  for (const key of ORDER[requested]) {
    const c = candidates[key]!;
    try {
      const { backend, device } = await c.prepare(requested === 'auto');
      if (!(await tf.setBackend(backend))) throw new Error(`tf.setBackend('${backend}') returned false`);
      await tf.ready();
      const info: BackendInfo = {
        requested,
        name: tf.getBackend(),
        device: backend === 'wasm' ? await describeWasmDevice() : device,
        tried,
      };
      if (info.name === 'cpu' && !verbose) firstCpuWriteQuietly();
      if (info.name === 'wasm') {
        const added = registerWasmTrainingKernels();
        if (added.length && verbose) log(`backend: registered wasm training kernels ${added.join(', ')}`);
        // The hot kernels on oneDNN where its addon is built; the wasm kernels above stay their fallback.
        const native = startOnednnKernels(wasmThreadsInUse());
        if (native.length && verbose) log(`backend: registered oneDNN kernels ${native.join(', ')}`);
        const onednn = onednnKernelsState();
        info.device += onednn.active ? ' + oneDNN kernels' : '';
        if (verbose) log(`backend: oneDNN kernels ${onednn.active ? 'active' : 'not used'}: ${onednn.detail}`);
      }
      log(backendLine(info, verbose));
      cache.set(requested, info);
      return info;
    } catch (e) {
      tried.push({ backend: c.label, error: reason(e) });
    }
  }
  throw new Error(
    `backend '${requested}' is not available here: ${tried.map((t) => `${t.backend}: ${t.error}`).join('; ')}` +
      (requested === 'auto' ? '' : `. Use --backend auto to fall back to what is available.`),
  );
}
