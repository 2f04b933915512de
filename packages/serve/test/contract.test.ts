// The prediction contract over HTTP with a model whose ood.json was fitted (the demo fixture of
// @parts/models' tests): known photos accepted, a generated far-OOD image rejected, the options
// (--unknown-threshold, --no-unknown), models without or with a corrupt ood.json, and ?explain=1.
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@parts/backend';
import { repoRoot } from '@parts/cli';
import { encodeRgbPng, farOodImage } from '@parts/data';
import { OOD_JSON } from '@parts/models';
import { makeTrainedModel, type TrainedFixture } from '../../models/test/trained-model-fixture';
import type { PartsServer } from '../src/index';
import { contractServers, request, tempDir } from './fixtures';

let dir: string;
let fx: TrainedFixture;
let known: Buffer;
let far: Buffer;
const { start, post, closeAll } = contractServers(() => fx.modelDir);

beforeAll(async () => {
  await initBackend('cpu', () => {});
  dir = await tempDir('serve-contract-');
  fx = await makeTrainedModel(dir, { runId: 'demo-ood' });
  known = await fsp.readFile(fx.known[1]!.file); // a big-bolt test photo the detector accepts
  far = await encodeRgbPng(farOodImage('checkerboard', 1, 200, 150));
});

afterAll(async () => {
  await closeAll();
  if (dir) await fsp.rm(dir, { recursive: true, force: true });
});

function expectContract(r: any) {
  const ps = r.probabilities as Record<string, number>;
  expect(Object.keys(ps)).toEqual(['big', 'small']);
  expect(ps.big! + ps.small!).toBeCloseTo(1, 5);
  expect(r.probability).toBe(Math.max(...Object.values(ps)));
  expect(ps[r.top]).toBe(r.probability);
  expect(r.label).toBe(r.unknown ? null : r.top);
  expect(r.model).toEqual({ id: 'demo-ood', arch: 'tinyvgg', mode: 'scratch' });
  expect(r.latencyMs).toBeGreaterThan(0);
}

function pngSize(dataUrl: string): { width: number; height: number } {
  expect(dataUrl.startsWith('data:image/png;base64,')).toBe(true);
  const b = Buffer.from(dataUrl.slice('data:image/png;base64,'.length), 'base64');
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

describe('a model with a fitted ood.json (model worker thread)', () => {
  let s: PartsServer;
  beforeAll(async () => {
    s = await start({ workers: 1, explainMaxSide: 160 });
  });

  it('accepts a known photo and rejects a far-OOD image, with score and threshold', async () => {
    const k = await post(s, known);
    expectContract(k);
    expect(k).toMatchObject({ label: 'big', unknown: false, top: 'big', ood: { method: 'knn' } });
    expect(k.ood.score).toBeGreaterThanOrEqual(k.ood.threshold);
    const f = await post(s, far);
    expectContract(f);
    expect(f).toMatchObject({ label: null, unknown: true });
    expect(f.ood.score).toBeLessThan(f.ood.threshold);
    expect(f.explanation).toBeUndefined();
  });

  it('GET /api/model describes the scorer, threshold, accept rate and temperature', async () => {
    const card: any = await (await fetch(`${s.url}/api/model`)).json();
    const stored = JSON.parse(await fsp.readFile(path.join(fx.modelDir, OOD_JSON), 'utf8'));
    expect(card.unknown).toEqual({ active: true, method: 'knn', threshold: stored.threshold, acceptRate: 0.95, temperature: stored.temperature, thresholdOverridden: false });
  });

  it('?explain=1 adds a Grad-CAM overlay of the photo, its longest side bounded', async () => {
    const k = await post(s, known, '?explain=1');
    expectContract(k);
    expect(k.explanation).toMatchObject({ method: 'contrast', layer: 'block2_conv2' });
    expect(pngSize(k.explanation.overlay)).toEqual({ width: 160, height: 120 }); // the photo is 320×240
    // Several photos in one request: one explanation each, in order.
    const f = new FormData();
    f.append('image', new Blob([known], { type: 'image/jpeg' }), 'known.jpg');
    f.append('image', new Blob([far], { type: 'image/png' }), 'far.png');
    const many = (await (await fetch(`${s.url}/api/predict?explain=1`, { method: 'POST', body: f })).json()) as any[];
    expect(many.map((r) => [r.file, r.unknown])).toEqual([['known.jpg', false], ['far.png', true]]);
    expect(pngSize(many[1].explanation.overlay)).toEqual({ width: 160, height: 120 }); // 200×150 fitted into 160
  });
});

describe('options and model folders', () => {
  it('--unknown-threshold replaces the threshold, and /api/model says so', async () => {
    const f0 = await post(await start(), far);
    const s = await start({ unknown: { threshold: f0.ood.score - 1e-6 } });
    const f = await post(s, far);
    expect(f).toMatchObject({ unknown: false, label: f.top, ood: { threshold: f0.ood.score - 1e-6 } });
    const card: any = await (await fetch(`${s.url}/api/model`)).json();
    expect(card.unknown).toMatchObject({ active: true, threshold: f0.ood.score - 1e-6, thresholdOverridden: true, storedThreshold: f0.ood.threshold });
  });

  it('--no-unknown: plain classification, never unknown, even with a corrupt ood.json', async () => {
    const bad = path.join(dir, 'corrupt-off');
    await fsp.cp(fx.modelDir, bad, { recursive: true });
    await fsp.writeFile(path.join(bad, OOD_JSON), 'not json');
    const s = await start({ modelDir: bad, unknown: { enabled: false } });
    const f = await post(s, far);
    expect(f).toMatchObject({ unknown: false, label: f.top, ood: null });
    expect(((await (await fetch(`${s.url}/api/model`)).json()) as any).unknown).toMatchObject({ active: false, temperature: 1 });
  });

  it('a model saved without ood.json is never unknown and uncalibrated; /api/model says there is no detector', async () => {
    const bare = path.join(dir, 'bare');
    await fsp.cp(fx.modelDir, bare, { recursive: true });
    await fsp.rm(path.join(bare, OOD_JSON));
    const s = await start({ modelDir: bare });
    const f = await post(s, far);
    expect(f).toMatchObject({ unknown: false, label: f.top, ood: null });
    const off = await post(await start({ unknown: { enabled: false } }), far);
    expect(f.probabilities).toEqual(off.probabilities); // T = 1, as with ood.json switched off
    const card: any = await (await fetch(`${s.url}/api/model`)).json();
    expect(card.unknown).toEqual({ active: false, temperature: 1, reason: expect.stringContaining('no ood.json') });
  });

  it('a corrupt ood.json: the server refuses the model with an error naming the file, and stays up to say why', async () => {
    const bad = path.join(dir, 'corrupt');
    await fsp.cp(fx.modelDir, bad, { recursive: true });
    const j = JSON.parse(await fsp.readFile(path.join(bad, OOD_JSON), 'utf8'));
    await fsp.writeFile(path.join(bad, OOD_JSON), JSON.stringify({ ...j, threshold: 'high' }));
    const s = await start({ modelDir: bad, workers: 1 });
    expect(s.model()).toBeNull();
    expect(s.refused()?.reason).toContain(`${path.join(bad, OOD_JSON)}: field "threshold"`);
    const ready = await request(`${s.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.text).toContain(`${path.join(bad, OOD_JSON)}: field \\"threshold\\"`);
  });
});

describe('explanations and promotion on the main thread', () => {
  it('explain=1 leaves no tensor behind', async () => {
    const s = await start();
    await post(s, known, '?explain=1'); // warm-up: kernels and Grad-CAM's cached sub-model
    const before = tf.memory().numTensors;
    for (const body of [known, far, known]) expect((await post(s, body, '?explain=1')).explanation.overlay).toBeTruthy();
    await post(s, far);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a promoted model with a corrupt ood.json is not swapped in; the log names the file', async () => {
    const served = path.join(dir, 'served');
    await fsp.cp(fx.modelDir, served, { recursive: true });
    const logs: string[] = [];
    const s = await start({ modelDir: served, watchIntervalMs: 50, log: (m) => logs.push(m) });
    await fsp.writeFile(path.join(served, OOD_JSON), '{"format": "parts-ood/1"');
    await expect.poll(() => logs.join('\n'), { timeout: 120_000, interval: 100 }).toContain(`${path.join(served, OOD_JSON)}: not valid JSON`);
    expect(logs.join('\n')).toContain('still serving demo-ood');
    const f = await post(s, far);
    expect(f).toMatchObject({ unknown: true, label: null }); // the old model, with its detector, still answers
  });
});

describe('pnpm serve (CLI)', () => {
  /** Runs serve until it prints its "serving" or "listening" line (then SIGTERM) or exits; returns the exit code and stderr. */
  function serve(args: string[]): Promise<{ code: number | null; stderr: string }> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'packages/serve/src/cli/serve.ts', '--port', '0', '--workers', '0', '--backend', 'cpu', '--watch-ms', '0', ...args], {
      cwd: repoRoot(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stopped = false;
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      // Once: a second SIGTERM during the drain means "exit now" (status 1).
      if (!stopped && /^(serving|listening at) /m.test(stderr)) {
        stopped = true;
        child.kill('SIGTERM');
      }
    });
    return new Promise((r) => child.on('exit', (code) => r({ code, stderr })));
  }

  it('refuses a model with a corrupt ood.json naming the file (and stays up to say so); with --no-unknown it serves the model', async () => {
    const bad = path.join(dir, 'corrupt-cli');
    await fsp.cp(fx.modelDir, bad, { recursive: true });
    await fsp.writeFile(path.join(bad, OOD_JSON), '{');
    const refused = await serve(['--model', bad]);
    expect(refused.stderr).toMatch(/^model \S* ?refused: .*ood\.json: not valid JSON/m);
    expect(refused.stderr).toContain(`${path.join(bad, OOD_JSON)}: not valid JSON`);
    expect(refused.stderr).toMatch(/^listening at .* without a model/m);
    expect(refused.code).toBe(0); // SIGTERM after the listening line
    const plain = await serve(['--model', bad, '--no-unknown']);
    expect(plain.stderr).toMatch(/^serving demo-ood \(tinyvgg\/scratch, labels big, small; unknown detection switched off/m);
    expect(plain.code).toBe(0);
  });
});
