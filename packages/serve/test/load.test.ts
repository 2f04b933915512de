import http from 'node:http';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PartsServer } from '../src/index';
import { makeModel, pngBomb, request, workerServerSuite } from './fixtures';

// The model runs in worker threads here (workers >= 1), as `pnpm serve` does by default.
const { suite, start, postJpeg } = workerServerSuite();

/** A predict request whose body is only half sent until finish() is called. */
function halfSent(s: PartsServer) {
  let done!: (r: { status: number; body: any }) => void;
  const answer = new Promise<{ status: number; body: any }>((r) => (done = r));
  const req = http.request(`${s.url}/api/predict`, {
    method: 'POST',
    headers: { 'content-type': 'image/jpeg', 'content-length': String(suite.jpeg.length) },
  });
  req.on('response', (res) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => done({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString()) }));
  });
  req.write(suite.jpeg.subarray(0, 1000));
  return { answer, finish: () => req.end(suite.jpeg.subarray(1000)) };
}

async function until(cond: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('concurrency', () => {
  it('answers 503 with Retry-After past the bounded queue, and recovers', async () => {
    const s = await start({ queueLimit: 1 });
    expect((await s.stats()).admitLimit).toBe(2); // 1 worker + queue of 1
    const a = halfSent(s);
    const b = halfSent(s);
    await until(async () => (await s.stats()).active === 2, 90_000);
    const busy = await postJpeg(s);
    expect(busy.status).toBe(503);
    expect(busy.headers['retry-after']).toBe('1');
    expect(busy.json).toMatchObject({ code: 'busy' });
    a.finish();
    b.finish();
    expect((await a.answer).status).toBe(200);
    expect((await b.answer).status).toBe(200);
    expect((await postJpeg(s)).status).toBe(200);

    // A burst: every request is either answered or turned away, none fails.
    const burst = await Promise.all(Array.from({ length: 40 }, () => postJpeg(s)));
    const codes = burst.map((r) => r.status);
    expect(codes.every((c) => c === 200 || c === 503)).toBe(true);
    expect(codes.filter((c) => c === 200).length).toBeGreaterThanOrEqual(2);
    expect((await s.stats()).active).toBe(0);
    expect((await postJpeg(s)).status).toBe(200);
  });

  it('keeps worker tensor counts and serves concurrent mixed requests', async () => {
    const s = await start({ workers: 2, queueLimit: 64 });
    const mixed = () =>
      Promise.all([
        postJpeg(s),
        request(`${s.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: pngBomb() }),
        postJpeg(s),
        request(`${s.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: suite.jpeg.subarray(0, 2000) }),
      ]);
    for (let i = 0; i < 3; i++) await mixed();
    const before = (await s.stats()).engine!.slots.map((x) => x.numTensors);
    expect(before).toHaveLength(2);
    for (let i = 0; i < 12; i++) {
      const rs = await mixed();
      expect(rs.map((r) => r.status)).toEqual([200, 413, 200, 400]);
    }
    expect((await s.stats()).engine!.slots.map((x) => x.numTensors)).toEqual(before);
  });
});

describe('hot swap', () => {
  it('switches to a newly promoted model under load without failing a request', async () => {
    const s = await start({ workers: 1, queueLimit: 64, watchIntervalMs: 100 });
    expect(s.model()!.id).toBe('tiny-a');
    const seen = new Set<string>();
    const failures: string[] = [];
    let stop = false;
    const client = async () => {
      while (!stop) {
        const r = await postJpeg(s);
        if (r.status !== 200) failures.push(`${r.status} ${r.text}`);
        else seen.add(r.json.model.id);
      }
    };
    const clients = [client(), client(), client()];
    // (Conditions, not sleeps: the clients have been answered by the old model before the
    // promotion, and by the new one after it, however slow the machine.)
    await until(async () => seen.has('tiny-a') || failures.length > 0, 90_000);
    // Promotion: a different model (other seed and input size) replaces the folder atomically.
    await makeModel(path.join(suite.dir, 'model'), { runId: 'tiny-b', imgSize: 48, seed: 7 });
    await until(async () => ((await (await fetch(`${s.url}/api/model`)).json()) as any).id === 'tiny-b', 90_000);
    await until(async () => seen.has('tiny-b') || failures.length > 0, 90_000);
    stop = true;
    await Promise.all(clients);
    expect(failures).toEqual([]);
    expect([...seen].sort()).toEqual(['tiny-a', 'tiny-b']);
    const card: any = await (await fetch(`${s.url}/api/model`)).json();
    expect(card).toMatchObject({ id: 'tiny-b', imgSize: 48 });
    const after = await postJpeg(s);
    expect(after.json.model.id).toBe('tiny-b');
  });
});
