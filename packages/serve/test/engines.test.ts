// The same promoted model served on ONNX Runtime and on tfjs answers the same labels and
// probabilities; ONNX Runtime runs behind the same parity check (a tampered model.onnx is refused
// while the tfjs engine still serves the folder); --engine onnx needs the runtime.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import { exportOnnxFile, loadOnnxRuntime, MODEL_ONNX } from '@parts/models';
import onnxProto from 'onnx-proto';
import { createServer, type PartsServer } from '../src/index';
import { makeModel, photos, request, tempDir, writeTestParity } from './fixtures';

let dir: string;
let modelDir: string;
const servers: PartsServer[] = [];
const runtime = await loadOnnxRuntime();

async function start(dirToServe: string, engine: 'onnx' | 'tfjs'): Promise<PartsServer> {
  const s = await createServer({ modelDir: dirToServe, port: 0, workers: 0, backend: 'cpu', engine, watchIntervalMs: 0, log: () => {} });
  servers.push(s);
  return s;
}

async function predict(s: PartsServer, file: string): Promise<{ top: string; probabilities: Record<string, number> }> {
  const r = await request(`${s.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: await fsp.readFile(file) });
  expect(r.status).toBe(200);
  return JSON.parse(r.text);
}

beforeAll(async () => {
  await initBackend('cpu', () => {});
  dir = await tempDir('serve-engines-');
  modelDir = path.join(dir, 'model');
  await makeModel(modelDir, { runId: 'engines', imgSize: 32, seed: 5 });
  await writeTestParity(modelDir);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await fsp.rm(dir, { recursive: true, force: true });
});

describe.skipIf(!runtime.ok)('ONNX Runtime and tfjs engines', () => {
  it('answer the same labels and probabilities for every photo, from model.onnx and from an in-memory export', async () => {
    const tfjs = await start(modelDir, 'tfjs');
    const inMemory = await start(modelDir, 'onnx');
    expect(inMemory.engine()).toMatchObject({ name: 'onnx', detail: expect.stringContaining('exported in memory') });
    const exported = await exportOnnxFile(modelDir);
    expect(exported.checkedAgainst).toBe('parity record');
    const fromFile = await start(modelDir, 'onnx');
    expect(fromFile.engine()).toMatchObject({ name: 'onnx', detail: expect.stringContaining(MODEL_ONNX) });
    expect(tfjs.engine()).toMatchObject({ name: 'tfjs' });
    const card: any = await (await fetch(`${fromFile.url}/api/model`)).json();
    expect(card.engine.name).toBe('onnx');
    expect(card.parity).toMatchObject({ backend: 'onnxruntime', recordBackend: 'cpu' });

    const { big, small } = await photos();
    const files = [...big.slice(0, 4), ...small.slice(0, 4)];
    const labels = new Set<string>();
    for (const f of files) {
      const want = await predict(tfjs, f);
      labels.add(want.top);
      for (const s of [inMemory, fromFile]) {
        const got = await predict(s, f);
        expect(got.top, f).toBe(want.top);
        for (const [k, p] of Object.entries(want.probabilities)) expect(Math.abs(got.probabilities[k]! - p), `${f} ${k}`).toBeLessThan(1e-4);
      }
    }
  });

  it('refuses a tampered model.onnx on its parity check, while the tfjs engine serves the same folder', async () => {
    const tampered = path.join(dir, 'tampered');
    await fsp.cp(modelDir, tampered, { recursive: true });
    await exportOnnxFile(tampered);
    // Scale the first weight tensor of the graph, as a corrupted or swapped file would.
    const file = path.join(tampered, MODEL_ONNX);
    const m = onnxProto.onnx.ModelProto.decode(await fsp.readFile(file));
    const w = m.graph!.initializer!.find((t) => t.dims!.length === 4)!;
    const raw = Buffer.from(w.rawData!);
    const f = new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4);
    for (let i = 0; i < f.length; i++) f[i] = f[i]! * 1.5 + 0.05;
    w.rawData = new Uint8Array(raw);
    await fsp.writeFile(file, onnxProto.onnx.ModelProto.encode(m).finish());

    const onnx = await start(tampered, 'onnx');
    expect(onnx.model()).toBeNull();
    expect(onnx.refused()).toMatchObject({ reason: expect.stringMatching(/^parity check failed: probabilities differ from the record/), parity: { ok: false, backend: 'onnxruntime' } });
    const ready = await request(`${onnx.url}/readyz`);
    expect(ready.status).toBe(503);

    const tfjs = await start(tampered, 'tfjs');
    expect(tfjs.model()?.id).toBe('engines');
  });
});
