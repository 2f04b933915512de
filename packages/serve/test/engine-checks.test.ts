// `pnpm diagnose` says which engine runs the forward pass and why.
import { describe, expect, it } from 'vitest';
import type { RuntimeProbe } from '@parts/models';
import { checkEngine } from '../src/diagnose/engine-checks';

const loads = async (): Promise<RuntimeProbe> => ({ ok: true, ort: {} as never, version: '1.30.0' });
const missing = async (): Promise<RuntimeProbe> => ({ ok: false, reason: 'onnxruntime-node is not installed' });

describe('checkEngine', () => {
  it('reports ONNX Runtime when it loads and the backend is on the CPU', async () => {
    const c = await checkEngine(loads, { name: 'wasm' });
    expect(c).toMatchObject({ id: 'engine', verdict: 'ok', summary: 'ONNX Runtime 1.30.0 on CPU runs the forward pass (--engine auto); Grad-CAM uses tfjs' });
    expect(c.fix).toBeUndefined();
  });

  it('reports tfjs with the reason and how to get ONNX Runtime when it cannot load', async () => {
    const c = await checkEngine(missing, { name: 'wasm' });
    expect(c).toMatchObject({ verdict: 'info', summary: 'tfjs on wasm runs the forward pass: auto: onnxruntime-node is not installed; using tfjs', fix: expect.stringContaining('ONNXRUNTIME_NODE_INSTALL=skip pnpm install') });
    expect(c.details).toMatchObject({ engine: 'tfjs', onnxRuntime: { loads: false } });
  });

  it('keeps tfjs on a WebGPU backend, without a fix (ONNX Runtime loads)', async () => {
    const c = await checkEngine(loads, { name: 'webgpu' });
    expect(c).toMatchObject({ verdict: 'info', summary: expect.stringContaining('tfjs on webgpu runs the forward pass: auto: the tfjs backend is webgpu') });
    expect(c.fix).toBeUndefined();
  });
});
