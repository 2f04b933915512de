import * as tf from '@tensorflow/tfjs-core';

/** The bits of a WebGPU adapter this module reads (the `webgpu` package ships full typings we don't depend on). */
interface AdapterLike {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string };
}

function describeAdapter(adapter: AdapterLike): string {
  const i = adapter.info ?? {};
  const parts = [i.description, i.device, i.vendor && `vendor ${i.vendor}`, i.architecture && `arch ${i.architecture}`].filter(Boolean);
  return `GPU (WebGPU: ${parts.length ? parts.join(', ') : 'adapter without info'})`;
}

/**
 * Makes `navigator.gpu` exist in Node with the `webgpu` package (Dawn) and asks it for an adapter.
 * Throws with the reason when the package is missing or no adapter is found (CPU-only machine,
 * no Vulkan loader); on success tfjs-backend-webgpu is loaded so that the 'webgpu' backend is registered.
 */
let probe: Promise<{ device: string }> | null = null;

/** Probes once per process: Dawn instances are costly and the answer does not change. */
export function prepareWebGpu(): Promise<{ device: string }> {
  probe ??= probeWebGpu();
  return probe;
}

async function probeWebGpu(): Promise<{ device: string }> {
  const mod = (await import('webgpu')) as unknown as { create: (flags: string[]) => { requestAdapter: (o?: object) => Promise<AdapterLike | null> }; globals: Record<string, unknown> };
  const g = globalThis as Record<string, unknown>;
  for (const [k, v] of Object.entries(mod.globals)) if (!(k in g)) g[k] = v;
  const gpu = mod.create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter == null) throw new Error('no WebGPU adapter found (no GPU, or no Vulkan loader/driver)');
  // Node 20 has no `navigator`; Node 21+ has one without `gpu`. tfjs-backend-webgpu registers
  // itself at import time only if navigator.gpu exists, so this must precede the import.
  if (g.navigator == null) g.navigator = { gpu };
  else Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  await import('@tensorflow/tfjs-backend-webgpu');
  if (tf.findBackendFactory('webgpu') == null) {
    throw new Error('@tensorflow/tfjs-backend-webgpu loaded but did not register the webgpu backend');
  }
  return { device: describeAdapter(adapter) };
}
