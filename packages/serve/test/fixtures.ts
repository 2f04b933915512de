import { promises as fsp } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, expect } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@parts/backend';
import { repoRoot } from '@parts/cli';
import { disposeClassifier, loadClassifier, pickParityPhotos, recordParity, saveClassifier, writeParity, type ClassifierMeta } from '@parts/models';
import { createServer, type PartsServer } from '../src/index';

/** Test helpers: a tiny real model saved in the contract format, photos, crafted bad files. */

export const PARTS = path.resolve(repoRoot(), '../shared/datasets/parts');

export async function photos(): Promise<{ big: string[]; small: string[] }> {
  const list = async (c: string) => (await fsp.readdir(path.join(PARTS, 'test', c))).sort().map((f) => path.join(PARTS, 'test', c, f));
  return { big: await list('big'), small: await list('small') };
}

export async function tempDir(prefix = 'serve-test-'): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}

/**
 * Saves a small untrained conv net (labels big/small) with saveClassifier. Accuracy is
 * irrelevant here; the seed makes two models with different seeds answer differently.
 * Needs a tfjs backend in the calling thread.
 */
export async function makeModel(
  dir: string,
  o: { runId: string; imgSize?: number; seed?: number; outputActivation?: 'sigmoid' | 'softmax'; lightNorm?: ClassifierMeta['lightNorm'] },
): Promise<void> {
  const size = o.imgSize ?? 32;
  const seed = o.seed ?? 1;
  const act = o.outputActivation ?? 'softmax';
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [size, size, 3], filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed }) }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.globalAveragePooling2d({}),
      tfl.layers.dense({ units: act === 'softmax' ? 2 : 1, activation: act, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }) }),
    ],
  });
  const meta: ClassifierMeta = {
    format: 'parts-classifier/1',
    arch: 'tinytest',
    mode: 'scratch',
    labels: ['big', 'small'],
    imgSize: size,
    fit: 'cover',
    preprocess: 'rescale01',
    outputActivation: act,
    ...(o.lightNorm ? { lightNorm: o.lightNorm } : {}),
    runId: o.runId,
  };
  await saveClassifier(model, meta, dir);
  model.dispose();
}

/**
 * Writes a parity record into a saved model folder as promotion does (4 of the real test photos,
 * probabilities from this thread's backend). Needs a tfjs backend in the calling thread.
 */
export async function writeTestParity(modelDir: string): Promise<void> {
  const { big, small } = await photos();
  const files = [...big.slice(0, 3), ...small.slice(0, 3)];
  const picked = pickParityPhotos(await Promise.all(files.map(async (f) => ({ name: path.basename(f), bytes: await fsp.readFile(f) }))), 4);
  const c = await loadClassifier(modelDir);
  try {
    await writeParity(modelDir, await recordParity(c, picked), picked);
  } finally {
    disposeClassifier(c);
  }
}

/** Changes every weight of a saved model (as a corrupted or swapped weights.bin would). */
export async function tamperWeights(modelDir: string): Promise<void> {
  const file = path.join(modelDir, 'weights.bin');
  const bytes = await fsp.readFile(file);
  const w = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  for (let i = 0; i < w.length; i++) w[i] = w[i]! * 1.5 + 0.05;
  await fsp.writeFile(file, Buffer.from(w.buffer, w.byteOffset, w.byteLength));
}

function crc32(buf: Buffer): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/**
 * A decompression bomb: a valid PNG header declaring width × height grey pixels, with
 * a few compressed zero rows. Tiny on the wire, gigabytes if decoded.
 */
export function pngBomb(width = 60_000, height = 60_000): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  const rows = zlib.deflateSync(Buffer.alloc((width + 1) * 16));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', rows),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** multipart/form-data body built by hand (so tests control every byte). */
export function multipart(parts: { field: string; filename?: string; type?: string; data: Buffer | string }[]): { body: Buffer; contentType: string } {
  const boundary = `----servetest${Math.random().toString(16).slice(2)}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disp = `form-data; name="${p.field}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}`;
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disp}\r\n${p.type ? `Content-Type: ${p.type}\r\n` : ''}\r\n`));
    chunks.push(typeof p.data === 'string' ? Buffer.from(p.data) : p.data);
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

/**
 * Minimal HTTP client over node:http that returns the answer even when the server closes
 * the connection while the body is still being sent (early 413/415 answers).
 */
export function request(
  url: string,
  o: { method?: string; headers?: Record<string, string>; body?: Buffer | string | Buffer[]; chunked?: boolean } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    const parts = o.body === undefined ? [] : Array.isArray(o.body) ? o.body : [Buffer.from(o.body)];
    if (!o.chunked && o.body !== undefined) headers['content-length'] = String(parts.reduce((n, b) => n + b.length, 0));
    const req = http.request(url, { method: o.method ?? 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    // Writes after the server answered early may fail with EPIPE/ECONNRESET; the answer wins: once
    // it has begun, its end (or its own error) settles the request, however long it takes.
    let answered = false;
    req.on('response', () => (answered = true));
    req.on('error', (e) => setTimeout(() => answered || reject(e), 50));
    for (const p of parts) req.write(p);
    req.end();
  });
}

/**
 * For a test file whose servers run the model in worker threads (as `pnpm serve` does): registers
 * hooks that save a tiny model to `<dir>/model` and read one real photo, and closes every server
 * started with `start` when the file is done.
 */
export function workerServerSuite() {
  const suite = { dir: '', jpeg: Buffer.alloc(0) };
  const servers: PartsServer[] = [];
  beforeAll(async () => {
    await initBackend('cpu', () => {}); // for saving the test model in this thread
    suite.dir = await tempDir();
    await makeModel(path.join(suite.dir, 'model'), { runId: 'tiny-a', imgSize: 32, seed: 1 });
    suite.jpeg = await fsp.readFile((await photos()).big[0]!);
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await fsp.rm(suite.dir, { recursive: true, force: true });
  });
  const start = async (o: Partial<Parameters<typeof createServer>[0]> = {}): Promise<PartsServer> => {
    const s = await createServer({ modelDir: path.join(suite.dir, 'model'), port: 0, workers: 1, backend: 'cpu', watchIntervalMs: 0, log: () => {}, ...o });
    servers.push(s);
    return s;
  };
  const postJpeg = (s: PartsServer) =>
    request(`${s.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: suite.jpeg });
  return { suite, start, postJpeg };
}

/**
 * Servers of one test file on a model made by the file's hooks (`modelDir()` is read at each
 * start): in-thread model, no folder watching. `post` sends a PNG to /api/predict and returns the
 * JSON of its 200 answer; `closeAll` closes every server started.
 */
export function contractServers(modelDir: () => string) {
  const servers: PartsServer[] = [];
  const start = async (o: Partial<Parameters<typeof createServer>[0]> = {}): Promise<PartsServer> => {
    const s = await createServer({ modelDir: modelDir(), port: 0, workers: 0, backend: 'cpu', watchIntervalMs: 0, log: () => {}, ...o });
    servers.push(s);
    return s;
  };
  const post = async (s: PartsServer, body: Buffer, query = ''): Promise<any> => {
    const r = await request(`${s.url}/api/predict${query}`, { method: 'POST', headers: { 'content-type': 'image/png' }, body });
    expect(r.status, r.text).toBe(200);
    return r.json;
  };
  const closeAll = () => Promise.all(servers.map((s) => s.close()));
  return { start, post, closeAll };
}
