// A model recorded with a light normalisation (classifier.json lightNorm) is fed the same input by
// every path: the server's tfjs and ONNX Runtime engines and the predictor `pnpm predict` uses
// (decodeImage + predictDecisions) answer the same probabilities for a photo under a dimmer or a
// warmer lamp as for the photo itself, while the same network without the field answers
// differently — so the field is read and applied, and models without it are fed as before.
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import { applyShift, decodeImage, decodePhoto, encodeRgbPng } from '@parts/data';
import { loadOnnxRuntime, loadPredictor, predictDecisions } from '@parts/models';
import { createServer, type PartsServer } from '../src/index';
import { makeModel, PARTS, photos, request, tempDir } from './fixtures';

let dir: string;
const servers: PartsServer[] = [];
const runtime = await loadOnnxRuntime();
const files: Record<'original' | 'dim' | 'warm', string[]> = { original: [], dim: [], warm: [] };

async function start(modelDir: string, engine: 'onnx' | 'tfjs'): Promise<PartsServer> {
  const s = await createServer({ modelDir, port: 0, workers: 0, backend: 'cpu', engine, watchIntervalMs: 0, log: () => {} });
  servers.push(s);
  return s;
}

async function served(s: PartsServer, file: string): Promise<Record<string, number>> {
  const r = await request(`${s.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: await fsp.readFile(file) });
  expect(r.status, r.text).toBe(200);
  return JSON.parse(r.text).probabilities;
}

const gap = (a: Record<string, number>, b: Record<string, number>) => Math.max(...Object.keys(a).map((k) => Math.abs(a[k]! - b[k]!)));

describe.skipIf(!existsSync(PARTS))('light normalisation: the same input on every path', () => {
  beforeAll(async () => {
    await initBackend('cpu', () => {});
    dir = await tempDir('serve-light-');
    await makeModel(path.join(dir, 'paper'), { runId: 'paper', imgSize: 32, seed: 5, lightNorm: 'paper' });
    await makeModel(path.join(dir, 'plain'), { runId: 'plain', imgSize: 32, seed: 5 });
    const { big, small } = await photos();
    for (const f of [big[0]!, small[0]!]) {
      const img = await decodePhoto(await fsp.readFile(f));
      const name = path.basename(f, path.extname(f));
      for (const [kind, shifted] of [['original', img], ['dim', await applyShift(img, 'brightness', 0.7)], ['warm', await applyShift(img, 'colour-cast', 0.2)]] as const) {
        const out = path.join(dir, `${name}-${kind}.png`);
        await fsp.writeFile(out, await encodeRgbPng(shifted));
        files[kind].push(out);
      }
    }
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('the tfjs server answers a dimmer or warmer photo as the photo itself, only with the field', async () => {
    const paper = await start(path.join(dir, 'paper'), 'tfjs');
    const plain = await start(path.join(dir, 'plain'), 'tfjs');
    const card: any = await (await fetch(`${paper.url}/api/model`)).json();
    expect(card.lightNorm).toBe('paper');
    expect(((await (await fetch(`${plain.url}/api/model`)).json()) as any).lightNorm).toBe('none');
    for (let i = 0; i < files.original.length; i++) {
      const [p0, p1, p2] = await Promise.all([files.original[i]!, files.dim[i]!, files.warm[i]!].map((f) => served(paper, f)));
      expect(gap(p0, p1)).toBeLessThan(0.01);
      expect(gap(p0, p2)).toBeLessThan(0.01);
      const [q0, q1] = await Promise.all([files.original[i]!, files.dim[i]!].map((f) => served(plain, f)));
      expect(gap(q0, q1)).toBeGreaterThan(0.02);
    }
  });

  it("predict's predictor and the server's engines give the same probabilities", async () => {
    const modelDir = path.join(dir, 'paper');
    const tfjs = servers[0] ?? (await start(modelDir, 'tfjs'));
    const onnx = runtime.ok ? await start(modelDir, 'onnx') : null;
    for (const engine of ['tfjs', ...(runtime.ok ? (['onnx'] as const) : [])] as const) {
      const p = await loadPredictor(modelDir, {}, { engine, backend: 'cpu' });
      try {
        expect(p.meta.lightNorm).toBe('paper');
        const all = [...files.original, ...files.dim, ...files.warm];
        const images = await Promise.all(all.map((f) => decodeImage(f, { size: p.meta.imgSize, fit: p.meta.fit })));
        const decisions = await predictDecisions(p, images);
        for (const [j, f] of all.entries()) {
          const want = await served(tfjs, f);
          expect(gap(decisions[j]!.probabilities, want), `${engine} ${f}`).toBeLessThan(1e-4);
          if (onnx) expect(gap(await served(onnx, f), want), `onnx server ${f}`).toBeLessThan(1e-4);
        }
      } finally {
        p.dispose();
      }
    }
  });
});
