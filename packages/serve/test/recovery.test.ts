import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RawImage } from '@parts/data';
import { engineOf } from '../src/server';
import { request, workerServerSuite } from './fixtures';

// Worker threads that die: requests must be answered (503) at once instead of hanging,
// readiness must say so, and a replacement must bring the server back.
const { start, postJpeg } = workerServerSuite();

async function until(cond: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const blank = (): RawImage => ({ data: new Uint8Array(32 * 32 * 3), width: 32, height: 32 });

describe('a model worker that dies', () => {
  it('fails its job, answers 503 while down, and is replaced', async () => {
    // The replacement starts RESTART_DELAY_MS after the crash: the checks of the down state below (a
    // few local requests) must run inside that window on a loaded machine too.
    const RESTART_DELAY_MS = 5_000;
    const s = await start({ workerRestart: { initialDelayMs: RESTART_DELAY_MS } });
    expect((await postJpeg(s)).status).toBe(200);
    const tensors = (await s.stats()).engine!.slots[0]!.numTensors;
    expect(tensors).toBeGreaterThan(0);

    // One job on the worker, one queued behind it; then the thread dies.
    const engine = engineOf(s)!;
    const running = engine.predict(Array.from({ length: 8 }, blank));
    const queued = engine.predict([blank()]);
    await engine.killWorker(0);
    await expect(running).rejects.toMatchObject({ status: 500, code: 'worker-died' });
    await expect(queued).rejects.toMatchObject({ status: 503, code: 'workers-down' });

    // Down: refused at once (no 60 s hang), not ready, stats still answer.
    // (Refused, not held until the replacement could answer: sooner than the restart delay.)
    const t0 = performance.now();
    const refused = await postJpeg(s);
    expect(performance.now() - t0).toBeLessThan(RESTART_DELAY_MS);
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('5');
    expect(refused.json).toMatchObject({ status: 503, code: 'workers-down' });
    expect(refused.json.error).toMatch(/model workers are down/);
    const notReady = await request(`${s.url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(notReady.json).toMatchObject({ ready: false });
    expect(notReady.json.reason).toMatch(/model workers are down.*restarting/);
    const down = await request(`${s.url}/api/stats`);
    expect(down.status).toBe(200);
    expect(down.json.engine).toMatchObject({ alive: 0, slots: [{ state: 'restarting', failures: 1 }] });
    expect(down.json.admitLimit).toBe(16); // the dead slot no longer counts

    // Back: ready, predicting, same tensor count as the first worker after the same work.
    await until(async () => (await request(`${s.url}/readyz`)).status === 200, 90_000);
    expect((await postJpeg(s)).status).toBe(200);
    const up = await request(`${s.url}/api/stats`);
    expect(up.status).toBe(200);
    expect(up.json.engine).toMatchObject({ alive: 1, slots: [{ state: 'up', numTensors: tensors }] });
    for (let i = 0; i < 3; i++) expect((await postJpeg(s)).status).toBe(200);
    expect((await s.stats()).engine!.slots[0]!.numTensors).toBe(tensors);
  });

  it('gives the slot up after the restart budget and says so', async () => {
    const s = await start({ workerRestart: { maxFailures: 1, initialDelayMs: 50 } });
    const engine = engineOf(s)!;
    // The replacement loads from the engine's private snapshot: without its weights it cannot start.
    await fsp.rm(path.join(engine.snapshot.dir, 'model.json'));
    await engine.killWorker(0);
    await until(async () => (await s.stats()).engine!.slots[0]!.state === 'dead', 90_000);

    const refused = await postJpeg(s);
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('30');
    expect(refused.json.error).toMatch(/gave up after 1 failed restarts/);
    const notReady = await request(`${s.url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(notReady.json.reason).toMatch(/replacement failed to start/);
    const stats = await request(`${s.url}/api/stats`);
    expect(stats.status).toBe(200);
    expect(stats.json.engine.slots[0]).toMatchObject({ state: 'dead', failures: 2 });
  });
});
