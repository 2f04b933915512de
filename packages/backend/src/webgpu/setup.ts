// Loads TensorFlow.js's WebGPU backend in Node: Dawn's Node bindings (the optional `webgpu`
// package, Vulkan underneath) provide `navigator.gpu`, then @tensorflow/tfjs-backend-webgpu
// registers itself (it only does so where `navigator.gpu` exists at import time) and our
// faster kernels replace its slow ones. Nothing here runs unless a caller asks for WebGPU.
import * as tf from '@tensorflow/tfjs-core';
import { registerWebGPUKernels } from './kernels/register';
import { initKernelTuning } from './autotune';
import { vulkanUnavailableReason } from '../vulkan-probe';
import { envSetting } from '@parts/cli';

export interface WebGPUAdapterDescription {
  /** One line for logs and BackendInfo.device (a run folder's config.json), e.g. 'WebGPU: nvidia nvidia-h200 (NVIDIA: 580.159.04 580.159.4.0)'. */
  device: string;
  vendor: string;
  architecture: string;
  /** The GPU model as Dawn names it, e.g. 'nvidia-h200', 'llvmpipe-llvm-15-0-6-256-bits-' (may be empty). */
  name: string;
  description: string;
  /** Software rasterisers (lavapipe, SwiftShader) are found on GPU-less machines; 'auto' should skip them. */
  software: boolean;
  features: string[];
  /** Whether convolution kernels are autotuned per shape (autotune.ts): on for a hardware adapter. */
  autotune: boolean;
}

let setupDone: Promise<WebGPUAdapterDescription> | null = null;

/** Extra Dawn instance flags, e.g. ['enable-dawn-features=allow_unsafe_apis'] (env PARTS_DAWN_FLAGS, comma-free list separated by ';'). */
function dawnFlags(): string[] {
  const flags = envSetting('PARTS_DAWN_FLAGS');
  return flags ? flags.split(';').filter(Boolean) : [];
}

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|software|cpu/i;

async function doSetup(): Promise<WebGPUAdapterDescription> {
  // Dawn prints native warnings (not catchable here) when Vulkan is missing: check for it first.
  const noVulkan = vulkanUnavailableReason();
  if (noVulkan) throw new Error(noVulkan);
  let mod: { create: (flags: string[]) => GPU; globals: object };
  try {
    mod = (await import('webgpu')) as unknown as typeof mod;
  } catch (e) {
    throw new Error(`the optional 'webgpu' package (Dawn for Node) did not load: ${(e as Error).message.split('\n')[0]}`);
  }
  // GPUBufferUsage, GPUMapMode, ... are globals in browsers; tfjs-backend-webgpu uses them as such.
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  const gpu = mod.create(dawnFlags());
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no WebGPU adapter (no GPU, or no Vulkan loader/driver: libvulkan.so.1 and an ICD)');
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  else if (!g.navigator.gpu) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  const info = adapter.info;
  const vendor = info?.vendor ?? '';
  const architecture = info?.architecture ?? '';
  const description = info?.description ?? '';
  const name = info?.device ?? '';
  const software = SOFTWARE.test(`${vendor} ${architecture} ${description}`) || Boolean((adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter);
  // Registers the 'webgpu' backend factory (side effect of the import) now that navigator.gpu exists.
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!tf.findBackendFactory('webgpu')) throw new Error('@tensorflow/tfjs-backend-webgpu did not register (navigator.gpu missing?)');
  registerWebGPUKernels();
  applyTfjsFlags(envSetting('PARTS_TFJS_FLAGS'));
  // The model name too: a run folder should say which GPU ran it, and tuned kernels are cached per model.
  const device = `WebGPU: ${[vendor, architecture, name].filter(Boolean).join(' ') || 'unknown adapter'}${description ? ` (${description})` : ''}${software ? ' [software]' : ''}`;
  const autotune = initKernelTuning({ device, software });
  return {
    device,
    autotune,
    vendor,
    architecture,
    name,
    description,
    software,
    features: [...adapter.features].sort(),
  };
}

/**
 * tfjs flags from the environment for A/B timing, e.g. PARTS_TFJS_FLAGS=WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=64
 * (tfjs submits its command buffer every 15 programs by default). Comma-separated NAME=value; values
 * true/false and numbers are converted. An unknown flag name fails with tfjs' own error.
 */
export function applyTfjsFlags(spec: string | undefined): void {
  for (const part of (spec ?? '').split(',').filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`PARTS_TFJS_FLAGS: expected NAME=value, got '${part}'`);
    const raw = part.slice(eq + 1);
    const value = raw === 'true' ? true : raw === 'false' ? false : Number.isFinite(Number(raw)) && raw !== '' ? Number(raw) : raw;
    tf.env().set(part.slice(0, eq), value);
  }
}

/**
 * Makes `tf.setBackend('webgpu')` possible. Throws with the reason when there is no adapter or
 * the packages are missing; the result is cached (a failed attempt is retried on the next call).
 */
export function setupWebGPU(): Promise<WebGPUAdapterDescription> {
  if (!setupDone) {
    setupDone = doSetup();
    setupDone.catch(() => {
      setupDone = null;
    });
  }
  return setupDone;
}
