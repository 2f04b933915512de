import { promises as fsp, readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import { createServer, type PartsServer } from '../src/index';
import { readModelInfo } from '../src/model-source';
import { makeModel, multipart, photos, pngBomb, request, tempDir } from './fixtures';

// Everything in this file runs the model on the test's own thread (workers: 0), so
// tf.memory() here is the server's tensor count.
let dir: string;
let server: PartsServer;
let big: string[];
let small: string[];
let jpeg: Buffer;

beforeAll(async () => {
  await initBackend('cpu', () => {});
  dir = await tempDir();
  await makeModel(path.join(dir, 'model'), { runId: 'tiny-a', imgSize: 32 });
  ({ big, small } = await photos());
  jpeg = await fsp.readFile(big[0]!);
  server = await createServer({
    modelDir: path.join(dir, 'model'),
    port: 0,
    workers: 0,
    backend: 'cpu',
    maxBytes: 200_000,
    watchIntervalMs: 0,
    log: () => {},
  });
});

afterAll(async () => {
  await server?.close();
  await fsp.rm(dir, { recursive: true, force: true });
});

const api = (p: string) => `${server.url}${p}`;

function expectPrediction(r: any, file?: string) {
  expect(['big', 'small']).toContain(r.label);
  const ps = r.probabilities as Record<string, number>;
  expect(Object.keys(ps).sort()).toEqual(['big', 'small']);
  expect(ps.big! + ps.small!).toBeCloseTo(1, 5);
  expect(ps[r.label]).toBeGreaterThanOrEqual(0.5);
  // Saved without ood.json: never unknown, no OOD score, top = label.
  expect([r.unknown, r.ood, r.top, r.probability]).toEqual([false, null, r.label, ps[r.label]]);
  expect(r.model).toEqual({ id: 'tiny-a', arch: 'tinytest', mode: 'scratch' });
  expect(r.latencyMs).toBeGreaterThan(0);
  if (file) expect(r.file).toBe(file);
}

describe('good requests', () => {
  it('classifies a raw image/jpeg body', async () => {
    const r = await request(api('/api/predict'), { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: jpeg });
    expect(r.status).toBe(200);
    expectPrediction(r.json);
  });

  it('classifies one multipart file as an object and several as an array, in order', async () => {
    const one = await fetch(api('/api/predict'), { method: 'POST', body: form([big[0]!]) });
    expect(one.status).toBe(200);
    const single: any = await one.json();
    expect(Array.isArray(single)).toBe(false);
    expectPrediction(single, path.basename(big[0]!));

    const files = [big[1]!, small[0]!, small[1]!];
    const many = await fetch(api('/api/predict'), { method: 'POST', body: form(files) });
    expect(many.status).toBe(200);
    const arr = (await many.json()) as any[];
    expect(arr.map((r) => r.file)).toEqual(files.map((f) => path.basename(f)));
    arr.forEach((r, i) => expectPrediction(r, path.basename(files[i]!)));
    // The same image gives the same answer alone or in a batch.
    const alone: any = await (await fetch(api('/api/predict'), { method: 'POST', body: form([small[0]!]) })).json();
    expect(arr[1].probabilities.big).toBeCloseTo(alone.probabilities.big, 5);
  });

  it('serves the page, the model card, health and readiness', async () => {
    const page = await fetch(api('/'));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    expect(html).toContain('/api/predict');
    expect(html).toContain('name="viewport"');

    const card: any = await (await fetch(api('/api/model'))).json();
    expect(card).toMatchObject({ id: 'tiny-a', arch: 'tinytest', mode: 'scratch', labels: ['big', 'small'], imgSize: 32, fit: 'cover', source: 'classifier.json' });
    expect(card.card.runId).toBe('tiny-a');
    expect(card.unknown).toMatchObject({ active: false, temperature: 1, reason: expect.stringContaining('no ood.json') });

    expect((await fetch(api('/healthz'))).status).toBe(200);
    const ready = await fetch(api('/readyz'));
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, model: 'tiny-a' });
  });
});

function form(files: string[]): FormData {
  const f = new FormData();
  for (const file of files) {
    f.append('image', new Blob([readFileSync(file)], { type: 'image/jpeg' }), path.basename(file));
  }
  return f;
}

describe('bad input', () => {
  const post = (body: Buffer | string, type: string) =>
    request(api('/api/predict'), { method: 'POST', headers: { 'content-type': type }, body });

  it('415 for a body that is not an image type', async () => {
    const r = await post('hello', 'text/plain');
    expect(r.status).toBe(415);
    expect(r.json).toMatchObject({ status: 415, code: 'unsupported-media-type' });
    expect(r.json.error).toMatch(/text\/plain/);
    const none = await request(api('/api/predict'), { method: 'POST', body: jpeg });
    expect(none.status).toBe(415);
  });

  it('415 for a multipart part declared as a non-image', async () => {
    const m = multipart([{ field: 'image', filename: 'notes.txt', type: 'text/plain', data: 'hello' }]);
    const r = await post(m.body, m.contentType);
    expect(r.status).toBe(415);
    expect(r.json.error).toMatch(/notes\.txt/);
  });

  it('415 for bytes that are no image format at all', async () => {
    const r = await post(Buffer.from('this is not a picture, just text '.repeat(20)), 'image/jpeg');
    expect(r.status).toBe(415);
    expect(r.json.code).toBe('unsupported');
  });

  it('400 for a truncated JPEG', async () => {
    const r = await post(jpeg.subarray(0, Math.floor(jpeg.length / 2)), 'image/jpeg');
    expect(r.status).toBe(400);
    expect(r.json.code).toBe('corrupt');
  });

  it('400 for a JPEG with a damaged body', async () => {
    const bad = Buffer.from(jpeg);
    bad.fill(0xff, 600, bad.length - 2); // keep the header and the EOI marker
    const r = await post(bad, 'image/jpeg');
    expect([400]).toContain(r.status);
  });

  it('400 for an empty body, an empty file and a form without the image field', async () => {
    const empty = await post(Buffer.alloc(0), 'image/png');
    expect(empty.status).toBe(400);
    expect(empty.json.code).toBe('empty');

    const m = multipart([{ field: 'image', filename: 'a.jpg', type: 'image/jpeg', data: Buffer.alloc(0) }]);
    const emptyFile = await post(m.body, m.contentType);
    expect(emptyFile.status).toBe(400);
    expect(emptyFile.json.error).toMatch(/a\.jpg.*empty/);

    const noField = multipart([{ field: 'comment', data: 'hi' }]);
    const r = await post(noField.body, noField.contentType);
    expect(r.status).toBe(400);
    expect(r.json.error).toMatch(/field 'image'/);

    const wrongField = multipart([{ field: 'photo', filename: 'a.jpg', type: 'image/jpeg', data: jpeg }]);
    const w = await post(wrongField.body, wrongField.contentType);
    expect(w.status).toBe(400);
    expect(w.json.error).toMatch(/'photo'/);
  });

  it('400 for a multipart body cut off before its end', async () => {
    const m = multipart([{ field: 'image', filename: 'a.jpg', type: 'image/jpeg', data: jpeg }]);
    const r = await post(m.body.subarray(0, m.body.length - 200), m.contentType);
    expect(r.status).toBe(400);
    expect(r.json.code).toBe('bad-multipart');
  });

  it('413 over the size limit: declared length, chunked raw body and multipart', async () => {
    const huge = Buffer.alloc(1_000_000, 1);
    const declared = await post(huge, 'image/jpeg');
    expect(declared.status).toBe(413);
    expect(declared.json.error).toMatch(/200000 bytes/);

    const chunks = Array.from({ length: 20 }, () => Buffer.alloc(50_000, 2));
    const chunked = await request(api('/api/predict'), { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: chunks, chunked: true });
    expect(chunked.status).toBe(413);

    const m = multipart([{ field: 'image', filename: 'big.jpg', type: 'image/jpeg', data: huge }]);
    const mp = await request(api('/api/predict'), { method: 'POST', headers: { 'content-type': m.contentType }, body: [m.body], chunked: true });
    expect(mp.status).toBe(413);
  });

  it('413 for a decompression bomb, without decoding it', async () => {
    const bomb = pngBomb();
    expect(bomb.length).toBeLessThan(200_000);
    const before = process.memoryUsage().rss;
    const r = await post(bomb, 'image/png');
    expect(r.status).toBe(413);
    expect(r.json.code).toBe('too-large');
    expect(r.json.error).toMatch(/60000x60000/);
    // 3.6 gigapixels were never allocated.
    expect(process.memoryUsage().rss - before).toBeLessThan(500e6);
  });

  it('413 for more files than maxFiles in one request', async () => {
    const m = multipart(Array.from({ length: 17 }, (_, i) => ({ field: 'image', filename: `${i}.jpg`, type: 'image/jpeg', data: 'x' })));
    const r = await post(m.body, m.contentType);
    expect(r.status).toBe(413);
    expect(r.json.error).toMatch(/more than 16 files/);
  });

  it('405 for a wrong method, 404 for an unknown path', async () => {
    const get = await request(api('/api/predict'));
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    expect(get.json.error).toMatch(/GET is not allowed/);
    expect((await request(api('/'), { method: 'DELETE' })).status).toBe(405);
    expect((await request(api('/api/model'), { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } })).status).toBe(405);
    const nf = await request(api('/nope'));
    expect(nf.status).toBe(404);
    expect(nf.json.error).toMatch(/\/nope/);
  });
});

describe('model card', () => {
  it('prefers model-card.json (written by promotion) over classifier.json', async () => {
    const d = path.join(dir, 'carded');
    await fsp.cp(path.join(dir, 'model'), d, { recursive: true });
    await fsp.writeFile(path.join(d, 'model-card.json'), JSON.stringify({ format: 'parts-model-card/1', runId: 'tiny-a', metrics: { accuracy: 0.9 } }));
    const info = await readModelInfo(d);
    expect(info.source).toBe('model-card.json');
    expect(info.id).toBe('tiny-a');
    expect((info.card.metrics as { accuracy: number }).accuracy).toBe(0.9);
    expect(info.sha256).toMatch(/^[0-9a-f]{64}$/);
    // Without a runId anywhere the id is a content hash, so a changed model gets a new id.
    const meta = JSON.parse(await fsp.readFile(path.join(d, 'classifier.json'), 'utf8'));
    delete meta.runId;
    await fsp.writeFile(path.join(d, 'classifier.json'), JSON.stringify(meta));
    await fsp.rm(path.join(d, 'model-card.json'));
    const anon = await readModelInfo(d);
    expect(anon.id).toBe(`sha-${anon.sha256.slice(0, 12)}`);
  });
});

describe('no leaks', () => {
  it('tensor count is the same after ~200 good and bad requests as after the first ten', async () => {
    const bad = [
      () => request(api('/api/predict'), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' }),
      () => request(api('/api/predict'), { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: jpeg.subarray(0, 3000) }),
      () => request(api('/api/predict'), { method: 'POST', headers: { 'content-type': 'image/png' }, body: pngBomb() }),
      () => request(api('/api/predict'), { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: Buffer.alloc(0) }),
    ];
    const good = () => request(api('/api/predict'), { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: jpeg });
    const round = async (n: number) => {
      const statuses: number[] = [];
      for (let i = 0; i < n; i += 4) {
        const batch = [good(), bad[i % bad.length]!(), good(), bad[(i + 1) % bad.length]!()];
        statuses.push(...(await Promise.all(batch)).map((r) => r.status));
      }
      return statuses;
    };
    const first = await round(12);
    expect(first.filter((s) => s === 200).length).toBe(6);
    const tensors = tf.memory().numTensors;
    const stats0 = await server.stats();
    expect(stats0.engine!.slots[0]!.numTensors).toBe(tensors);

    const rest = await round(200);
    expect(rest.filter((s) => s === 200).length).toBe(100);
    expect(rest.filter((s) => s >= 500)).toEqual([]);
    expect(tf.memory().numTensors).toBe(tensors);
    const stats = await server.stats();
    expect(stats.active).toBe(0);
    expect((await fetch(api('/healthz'))).status).toBe(200);
  });
});
