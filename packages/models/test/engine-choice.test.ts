// Which engine runs the forward pass: tfjs when asked; ONNX Runtime when asked (a clear error when
// it cannot load); auto prefers ONNX Runtime on CPU and falls back to tfjs, saying why.
import { describe, expect, it } from 'vitest';
import { chooseEngine, probeOnnxRuntime, type RuntimeProbe } from '../src/index';

const missing = () => probeOnnxRuntime(async () => {
  throw new Error("Cannot find package 'onnxruntime-node' imported from x.js");
});
const broken = () => probeOnnxRuntime(async () => {
  throw new Error('libonnxruntime.so.1: cannot open shared object file\nmore');
});
const fake = { InferenceSession: class {}, env: { versions: { common: '9.9.9' } } };
const present = (): Promise<RuntimeProbe> => probeOnnxRuntime(async () => fake);

describe('probeOnnxRuntime', () => {
  it('says why the runtime is unavailable: not installed, or a library that cannot load', async () => {
    expect(await missing()).toEqual({ ok: false, reason: 'onnxruntime-node is not installed' });
    expect(await broken()).toEqual({ ok: false, reason: 'onnxruntime-node cannot load here: libonnxruntime.so.1: cannot open shared object file' });
    expect(await probeOnnxRuntime(async () => ({ default: fake }))).toMatchObject({ ok: true, version: '9.9.9' });
    expect(await probeOnnxRuntime(async () => ({}))).toMatchObject({ ok: false, reason: 'onnxruntime-node loaded without an InferenceSession' });
  });
});

describe('chooseEngine', () => {
  it('auto prefers ONNX Runtime where it loads', async () => {
    expect(await chooseEngine('auto', { probe: present, backend: 'wasm' })).toMatchObject({ name: 'onnx', reason: expect.stringContaining('auto: ONNX Runtime 9.9.9 loads here') });
  });

  it('auto falls back to tfjs when the runtime cannot load, and keeps the GPU when the backend is webgpu', async () => {
    expect(await chooseEngine('auto', { probe: missing })).toEqual({ name: 'tfjs', reason: 'auto: onnxruntime-node is not installed; using tfjs' });
    expect(await chooseEngine('auto', { probe: broken })).toMatchObject({ name: 'tfjs', reason: expect.stringContaining('cannot load here') });
    expect(await chooseEngine('auto', { probe: present, backend: 'webgpu' })).toMatchObject({ name: 'tfjs', reason: expect.stringContaining('webgpu') });
  });

  it('--engine onnx fails clearly where the runtime cannot load; --engine tfjs never probes it', async () => {
    await expect(chooseEngine('onnx', { probe: missing })).rejects.toThrow('--engine onnx: onnxruntime-node is not installed; install it (pnpm install with ONNXRUNTIME_NODE_INSTALL=skip) or use --engine tfjs');
    expect(await chooseEngine('onnx', { probe: present })).toMatchObject({ name: 'onnx', reason: 'asked for (--engine onnx)' });
    let probed = false;
    expect(await chooseEngine('tfjs', { probe: async () => ((probed = true), present()) })).toEqual({ name: 'tfjs', reason: 'asked for (--engine tfjs)' });
    expect(probed).toBe(false);
  });

  it('rejects an unknown engine name', async () => {
    await expect(chooseEngine('gpu' as never)).rejects.toThrow('unknown engine "gpu"; expected one of auto, onnx, tfjs');
  });
});
