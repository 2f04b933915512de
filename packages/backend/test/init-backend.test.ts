import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAMES, initBackend } from '../src/index';
import type { BackendName } from '../src/index';
import { setupWebGPU } from '../src/webgpu/index';

// No libtensorflow here. A WebGPU adapter exists only with a GPU or a software Vulkan driver
// (scripts/test-webgpu.sh sets one up): the WebGPU expectations depend on which.
const adapter = await setupWebGPU().catch(() => null);

describe('initBackend', () => {
  // 'auto' takes a hardware adapter's WebGPU; software ones (lavapipe) are slower than wasm and skipped.
  it.skipIf(adapter && !adapter.software)("'auto' falls through tfjs-node-gpu, webgpu and tfjs-node to wasm, recording why each was skipped", async () => {
    const logs: string[] = [];
    const info = await initBackend('auto', (m) => logs.push(m));
    expect(info.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.requested).toBe('auto');
    expect(info.device).toMatch(/^CPU \(wasm( SIMD)?, \d+ threads?\)( \+ oneDNN kernels)?$/);
    expect(info.tried.map((t) => t.backend)).toEqual(['tfjs-node-gpu', 'webgpu', 'tfjs-node']);
    for (const t of info.tried) expect(t.error.length).toBeGreaterThan(5);
    expect(info.tried[1]!.error).toMatch(/adapter|webgpu/i);
    // The chosen backend and device are printed, with the skipped ones.
    expect(logs.some((l) => l.includes('wasm on CPU (wasm') && l.includes('tfjs-node-gpu:'))).toBe(true);
    // wasm can train: the kernels it lacked are there now.
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    expect(tf.getKernel('DepthwiseConv2dNativeBackpropInput', 'wasm')).toBeDefined();
  });

  it('is idempotent: a second call returns the same info without re-trying', async () => {
    const a = await initBackend('auto', () => {});
    const logs: string[] = [];
    const b = await initBackend('auto', (m) => logs.push(m));
    expect(b).toBe(a);
    expect(logs).toEqual([]);
  });

  it("'cpu' starts the cpu backend, and 'wasm' switches back", async () => {
    const cpu = await initBackend('cpu', () => {});
    expect(cpu.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(cpu.tried).toEqual([]);
    const y = tf.add(tf.tensor1d([1, 2]), 1);
    expect(Array.from(await y.data())).toEqual([2, 3]);
    y.dispose();
    const wasm = await initBackend('wasm', () => {});
    expect(wasm.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it('an unavailable requested backend is an error that names every reason', async () => {
    await expect(initBackend('tensorflow', () => {})).rejects.toThrow(/backend 'tensorflow' is not available.*tfjs-node-gpu:.*tfjs-node:/s);
  });

  it.skipIf(adapter)('webgpu without an adapter is an error that says why', async () => {
    await expect(initBackend('webgpu', () => {})).rejects.toThrow(/backend 'webgpu' is not available.*adapter/s);
  });

  it.skipIf(!adapter)('webgpu with an adapter (a GPU, or a software Vulkan driver when asked for) starts', async () => {
    const info = await initBackend('webgpu', () => {});
    expect(info.name).toBe('webgpu');
    expect(tf.getBackend()).toBe('webgpu');
    expect(info.device).toContain(adapter!.device);
    // The GPU model is part of what a run folder records (Dawn names it, e.g. 'nvidia-h200').
    expect(adapter!.name).not.toBe('');
    expect(info.device).toContain(adapter!.name);
    await initBackend('wasm', () => {});
  });

  it('an unknown backend name is an error listing the valid ones', async () => {
    await expect(initBackend('cuda' as BackendName, () => {})).rejects.toThrow(`unknown backend 'cuda': expected one of ${BACKEND_NAMES.join(', ')}`);
  });
});
