import { promises as fsp } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import { createServer, type PartsServer } from '../src/index';
import { makeModel, photos, pngBomb, request, tempDir } from './fixtures';

// The model runs in worker threads here (workers >= 1), as `pnpm serve` does by default.
let dir: string;
let jpeg: Buffer;
const servers: PartsServer[] = [];

beforeAll(async () => {
  await initBackend('cpu', () => {}); // for saving test models in this thread
  dir = await tempDir();
  await makeModel(path.join(dir, 'model'), { runId: 'tiny-a', imgSize: 32, seed: 1 });
  jpeg = await fsp.readFile((await photos()).big[0]!);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await fsp.rm(dir, { recursive: true, force: true });
});

async function start(o: Partial<Parameters<typeof createServer>[0]> = {}): Promise<PartsServer> {
  const s = await createServer({ modelDir: path.join(dir, 'model'), port: 0, workers: 1, backend: 'cpu', watchIntervalMs: 0, log: () => {}, ...o });
  servers.push(s);
  return s;
}

const postJpeg = (s: PartsServer) =>
  request(`${s.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: jpeg });

/** A predict request whose body is only half sent until finish() is called. */
function halfSent(s: PartsServer) {
  let done!: (r: { status: number; body: any }) => void;
  const answer = new Promise<{ status: number; body: any }>((r) => (done = r));
  const req = http.request(`${s.url}/api/predict`, {
    method: 'POST',
    headers: { 'content-type': 'image/jpeg', 'content-length': String(jpeg.length) },
  });
  req.on('response', (res) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => done({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString()) }));
  });
  req.write(jpeg.subarray(0, 1000));
  return { answer, finish: () => req.end(jpeg.subarray(1000)) };
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
    await until(async () => (await s.stats()).active === 2, 5000);
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
        request(`${s.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: jpeg.subarray(0, 2000) }),
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
    await new Promise((r) => setTimeout(r, 300));
    // Promotion: a different model (other seed and input size) replaces the folder atomically.
    await makeModel(path.join(dir, 'model'), { runId: 'tiny-b', imgSize: 48, seed: 7 });
    await until(async () => ((await (await fetch(`${s.url}/api/model`)).json()) as any).id === 'tiny-b', 90_000);
    await new Promise((r) => setTimeout(r, 300));
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
