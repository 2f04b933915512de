// The served model must be the evaluated one: a model folder's parity record (written at promotion)
// is re-checked on the engine that will serve, at start-up and at every hot swap; a model whose
// answers differ (weights changed after promotion) is refused and the server stays up.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import { PARITY_TOLERANCE } from '@parts/models';
import { createServer, type PartsServer } from '../src/index';
import { makeModel, photos, request, tamperWeights, tempDir, writeTestParity } from './fixtures';

let dir: string;
let jpeg: Buffer;
const servers: PartsServer[] = [];

/** A model folder as promotion leaves it: the model and its parity record (recorded on this thread's cpu backend). */
async function promoted(name: string, runId: string, seed: number): Promise<string> {
  const modelDir = path.join(dir, name);
  await makeModel(modelDir, { runId, imgSize: 32, seed });
  await writeTestParity(modelDir);
  return modelDir;
}

/** Puts `staged` at `target` the way promotion does: by renames, never a half-written folder. */
async function promoteInto(staged: string, target: string): Promise<void> {
  const aside = `${target}.old-${Date.now()}`;
  await fsp.rename(target, aside);
  await fsp.rename(staged, target);
  await fsp.rm(aside, { recursive: true, force: true });
}

async function until(what: string, cond: () => Promise<boolean>, ms = 300_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function start(modelDir: string, o: Partial<Parameters<typeof createServer>[0]> = {}): Promise<PartsServer> {
  const s = await createServer({ modelDir, port: 0, workers: 1, backend: 'cpu', watchIntervalMs: 0, log: () => {}, ...o });
  servers.push(s);
  return s;
}

const postJpeg = (s: PartsServer) => request(`${s.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: jpeg });

beforeAll(async () => {
  await initBackend('cpu', () => {});
  dir = await tempDir('serve-parity-');
  jpeg = await fsp.readFile((await photos()).big[0]!);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await fsp.rm(dir, { recursive: true, force: true });
});

describe('parity at start-up', () => {
  it('an untouched promoted model passes on another backend than the one that recorded it (recorded on cpu, served on wasm)', async () => {
    const modelDir = await promoted('good-wasm', 'tiny-good', 1);
    const s = await start(modelDir, { backend: 'wasm' });
    expect((await request(`${s.url}/readyz`)).status).toBe(200);
    const card = await request(`${s.url}/api/model`);
    expect(card.status).toBe(200);
    expect(card.json.parity).toMatchObject({ ok: true, photos: 4, tolerance: PARITY_TOLERANCE, backend: 'wasm', recordBackend: 'cpu' });
    expect(card.json.parity.maxAbsDiff).toBeLessThanOrEqual(PARITY_TOLERANCE);
    expect(card.json.rejected).toBeNull();
    expect((await postJpeg(s)).json.model.id).toBe('tiny-good');
    await s.close();
  });

  it('a model whose weights changed after promotion is refused: /healthz 200, /readyz, /api/predict and /api/model 503 with the reason', async () => {
    const modelDir = await promoted('tampered-start', 'tiny-tampered', 2);
    await tamperWeights(modelDir);
    const s = await start(modelDir, { workers: 0 });
    expect(s.model()).toBeNull();
    expect((await request(`${s.url}/healthz`)).status).toBe(200);
    const ready = await request(`${s.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.json.ready).toBe(false);
    expect(ready.json.reason).toMatch(/model tiny-tampered was refused: parity check failed: probabilities differ from the record by .* above the tolerance 0\.0001/);
    expect(ready.json.rejected).toMatchObject({ id: 'tiny-tampered', parity: { ok: false, photos: 4, backend: 'cpu' } });
    expect(ready.json.rejected.parity.maxAbsDiff).toBeGreaterThan(PARITY_TOLERANCE);
    const predict = await postJpeg(s);
    expect(predict.status).toBe(503);
    expect(predict.json.error).toMatch(/refused: parity check failed/);
    const card = await request(`${s.url}/api/model`);
    expect(card.status).toBe(503);
    expect(card.json).toMatchObject({ code: 'model-refused', rejected: { id: 'tiny-tampered' } });
    await s.close();
  });

  it('a model that no longer loads is refused the same way, the server stays up', async () => {
    const modelDir = await promoted('truncated', 'tiny-truncated', 3);
    await fsp.truncate(path.join(modelDir, 'weights.bin'), 10);
    const s = await start(modelDir, { workers: 0 });
    expect((await request(`${s.url}/healthz`)).status).toBe(200);
    const ready = await request(`${s.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.json.reason).toMatch(/model tiny-truncated was refused/);
    expect(ready.json.rejected).toMatchObject({ id: 'tiny-truncated', parity: null });
    await s.close();
  });

  it('a model folder without parity.json is served, with parity null and a note', async () => {
    const modelDir = path.join(dir, 'legacy');
    await makeModel(modelDir, { runId: 'tiny-legacy', imgSize: 32, seed: 4 });
    const s = await start(modelDir, { workers: 0 });
    const card = await request(`${s.url}/api/model`);
    expect(card.status).toBe(200);
    expect(card.json.parity).toBeNull();
    expect(card.json.parityNote).toMatch(/no parity\.json .* promote the run again/);
    expect((await request(`${s.url}/readyz`)).status).toBe(200);
    await s.close();
  });
});

describe('parity at hot swap', () => {
  it('a tampered candidate is refused while the previous model keeps answering; a good one then goes into service', async () => {
    const target = await promoted('served', 'tiny-a', 5);
    const s = await start(target, { watchIntervalMs: 50 });
    expect((await postJpeg(s)).json.model.id).toBe('tiny-a');

    const bad = await promoted('staged-bad', 'tiny-b', 6);
    await tamperWeights(bad);
    await promoteInto(bad, target);
    await until('the tampered candidate is reported', async () => (await request(`${s.url}/api/model`)).json?.rejected?.id === 'tiny-b');
    const card = (await request(`${s.url}/api/model`)).json;
    expect(card.id).toBe('tiny-a');
    expect(card.parity).toMatchObject({ ok: true, backend: 'cpu', recordBackend: 'cpu' });
    expect(card.rejected.reason).toMatch(/parity check failed: probabilities differ/);
    expect(card.rejected.parity).toMatchObject({ ok: false, photos: 4 });
    const ready = await request(`${s.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.json.model).toBe('tiny-a');
    const answer = await postJpeg(s);
    expect(answer.status).toBe(200);
    expect(answer.json.model.id).toBe('tiny-a');
    expect(s.model()?.id).toBe('tiny-a');

    const good = await promoted('staged-good', 'tiny-c', 7);
    await promoteInto(good, target);
    await until('the good model is in service', async () => (await request(`${s.url}/api/model`)).json?.id === 'tiny-c');
    const after = (await request(`${s.url}/api/model`)).json;
    expect(after.rejected).toBeNull();
    expect(after.parity).toMatchObject({ ok: true, photos: 4 });
    expect((await postJpeg(s)).json.model.id).toBe('tiny-c');
    await s.close();
  });

  it('a server that refused its model at start-up goes into service when a good model is promoted', async () => {
    const target = await promoted('refused-first', 'tiny-d', 8);
    await tamperWeights(target);
    const s = await start(target, { workers: 0, watchIntervalMs: 50 });
    expect((await request(`${s.url}/readyz`)).status).toBe(503);
    await promoteInto(await promoted('staged-good-2', 'tiny-e', 9), target);
    await until('ready with the good model', async () => (await request(`${s.url}/readyz`)).json?.model === 'tiny-e');
    expect((await postJpeg(s)).json.model.id).toBe('tiny-e');
    await s.close();
  });
});
