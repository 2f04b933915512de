import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import {
  WeightsChecksumError,
  WeightsDownloadError,
  WeightsUnavailableError,
  ensureWeightsFile,
  loadPretrainedWeights,
  resolveCacheDir,
  weightsFolder,
  writeKerasH5Weights,
} from '../src/weights/index';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
// 300 KB of non-repeating bytes: several chunks, so progress and truncation are exercised.
const GOOD = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31 + (i >> 8)) & 0xff));
const GOOD_MD5 = md5(GOOD);

let server: http.Server;
let base: string;
let h5Bytes: Buffer;
const hits = new Map<string, number>();
let tmpRoot: string;
let cacheDir: string;
const savedEnv = { ...process.env };

function url(p: string) {
  return `${base}${p}`;
}

async function cacheFiles(dir = weightsFolder(cacheDir)): Promise<string[]> {
  return fs.readdir(dir).catch(() => []);
}

beforeAll(async () => {
  await initBackend('cpu', () => {});
  tmpRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'parts-weights-dl-'));
  server = http.createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    hits.set(p, (hits.get(p) ?? 0) + 1);
    if (p === '/good.h5' || p === '/small.h5') {
      const body = p === '/good.h5' ? GOOD : h5Bytes;
      res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' });
      res.end(body);
    } else if (p === '/moved/good.h5') {
      res.writeHead(302, { location: '/good.h5' });
      res.end();
    } else if (p === '/bad.h5') {
      const body = Buffer.from(GOOD);
      body[1234] ^= 1; // one flipped bit: same length, other md5
      res.writeHead(200, { 'content-length': body.length });
      res.end(body);
    } else if (p === '/truncated.h5') {
      // Declares the full length, sends half, then drops the connection.
      res.writeHead(200, { 'content-length': GOOD.length });
      res.write(GOOD.subarray(0, GOOD.length / 2), () => setTimeout(() => res.socket?.destroy(), 20));
    } else if (p === '/stall.h5') {
      // accepts the request and never answers
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await fs.rm(tmpRoot, { recursive: true, force: true });
});

beforeEach(async () => {
  hits.clear();
  cacheDir = await fs.mkdtemp(path.join(tmpRoot, 'cache-'));
  process.env.PARTS_CACHE_DIR = cacheDir;
});

afterEach(() => {
  process.env = { ...savedEnv };
});

describe('resolveCacheDir', () => {
  it('prefers PARTS_CACHE_DIR, then XDG_CACHE_HOME, then ~/.cache', () => {
    expect(resolveCacheDir({ PARTS_CACHE_DIR: '/a/b', XDG_CACHE_HOME: '/x' })).toBe('/a/b');
    expect(resolveCacheDir({ PARTS_CACHE_DIR: '', XDG_CACHE_HOME: '/x' })).toBe('/x/parts-classifier');
    expect(resolveCacheDir({ XDG_CACHE_HOME: 'relative' })).toBe(path.join(os.homedir(), '.cache', 'parts-classifier'));
    expect(resolveCacheDir({})).toBe(path.join(os.homedir(), '.cache', 'parts-classifier'));
  });
});

describe('ensureWeightsFile (loopback server)', () => {
  it('downloads, verifies md5, caches; the second call does not hit the server', async () => {
    const progress: [number, number | undefined][] = [];
    const file = await ensureWeightsFile({ url: url('/good.h5'), md5: GOOD_MD5, onProgress: (r, t) => progress.push([r, t]), log: () => {} });
    expect(file).toBe(path.join(cacheDir, 'keras-weights', 'good.h5'));
    expect(md5(await fs.readFile(file))).toBe(GOOD_MD5);
    expect(await cacheFiles()).toEqual(['good.h5']); // no temp file left
    expect(progress.at(-1)).toEqual([GOOD.length, GOOD.length]);
    expect(progress.length).toBeGreaterThan(1);
    expect(hits.get('/good.h5')).toBe(1);

    const again = await ensureWeightsFile({ url: url('/good.h5'), md5: GOOD_MD5, onProgress: () => {}, log: () => {} });
    expect(again).toBe(file);
    expect(hits.get('/good.h5')).toBe(1);
  });

  it('removes temp files left by a killed download more than a day ago, keeps recent ones', async () => {
    const folder = weightsFolder(cacheDir);
    await fs.mkdir(folder, { recursive: true });
    const old = path.join(folder, '.good.h5.123.abcd.part');
    const recent = path.join(folder, '.good.h5.456.ef01.part');
    await fs.writeFile(old, 'partial');
    await fs.writeFile(recent, 'partial');
    const twoDaysAgo = new Date(Date.now() - 48 * 3600 * 1000);
    await fs.utimes(old, twoDaysAgo, twoDaysAgo);
    await ensureWeightsFile({ url: url('/good.h5'), md5: GOOD_MD5, onProgress: () => {}, log: () => {} });
    expect((await cacheFiles()).sort()).toEqual(['.good.h5.456.ef01.part', 'good.h5']);
  });

  it('follows redirects and honours fileName', async () => {
    const file = await ensureWeightsFile({ url: url('/moved/good.h5'), md5: GOOD_MD5, fileName: 'renamed.h5', onProgress: () => {}, log: () => {} });
    expect(path.basename(file)).toBe('renamed.h5');
    expect(hits.get('/moved/good.h5')).toBe(1);
    expect(hits.get('/good.h5')).toBe(1);
  });

  it('wrong md5: error names URL and both hashes, nothing in the cache', async () => {
    const err = await ensureWeightsFile({ url: url('/bad.h5'), md5: GOOD_MD5, onProgress: () => {}, log: () => {} }).catch((e) => e);
    expect(err).toBeInstanceOf(WeightsDownloadError);
    expect(err.kind).toBe('md5');
    expect(err.message).toContain(url('/bad.h5'));
    expect(err.message).toContain(`expected ${GOOD_MD5}`);
    expect(err.actualMd5).toMatch(/^[0-9a-f]{32}$/);
    expect(err.actualMd5).not.toBe(GOOD_MD5);
    expect(err.message).toContain(err.actualMd5);
    expect(await cacheFiles()).toEqual([]);
  });

  it('truncated transfer (connection dropped before Content-Length): error, nothing in the cache', async () => {
    const err = await ensureWeightsFile({ url: url('/truncated.h5'), md5: GOOD_MD5, onProgress: () => {}, log: () => {} }).catch((e) => e);
    expect(err).toBeInstanceOf(WeightsDownloadError);
    expect(err.kind).toBe('truncated');
    expect(err.message).toContain(url('/truncated.h5'));
    expect(err.message).toMatch(new RegExp(`of ${GOOD.length}`));
    expect(await cacheFiles()).toEqual([]);
  });

  it('HTTP error: error names URL and status, nothing in the cache', async () => {
    const err = await ensureWeightsFile({ url: url('/missing.h5'), md5: GOOD_MD5, onProgress: () => {}, log: () => {} }).catch((e) => e);
    expect(err).toBeInstanceOf(WeightsDownloadError);
    expect(err.message).toContain(`${url('/missing.h5')} failed: HTTP 404`);
    expect(await cacheFiles()).toEqual([]);
  });

  it('connection refused: offline error naming the file, the URL and the folder', async () => {
    // A port that was just free: nothing listens there.
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const deadUrl = `http://127.0.0.1:${port}/vgg16_notop.h5`;

    const err = await ensureWeightsFile({ url: deadUrl, md5: GOOD_MD5, onProgress: () => {}, log: () => {} }).catch((e) => e);
    expect(err).toBeInstanceOf(WeightsUnavailableError);
    const folder = path.join(cacheDir, 'keras-weights');
    expect(err).toMatchObject({ url: deadUrl, file: 'vgg16_notop.h5', folder });
    expect(err.message).toContain('vgg16_notop.h5');
    expect(err.message).toContain(deadUrl);
    expect(err.message).toContain(folder);
    expect(err.message).toContain('ECONNREFUSED');
    expect(await cacheFiles()).toEqual([]);

    // The remedy the message gives works: a file put there by hand is used without any network.
    await fs.writeFile(path.join(folder, 'vgg16_notop.h5'), GOOD);
    expect(await ensureWeightsFile({ url: deadUrl, md5: GOOD_MD5, log: () => {} })).toBe(path.join(folder, 'vgg16_notop.h5'));
  });

  it('a server that never answers times out as unavailable', async () => {
    const err = await ensureWeightsFile({ url: url('/stall.h5'), md5: GOOD_MD5, timeoutMs: 300, onProgress: () => {}, log: () => {} }).catch((e) => e);
    expect(err).toBeInstanceOf(WeightsUnavailableError);
    expect(err.message).toContain('ETIMEDOUT');
    expect(await cacheFiles()).toEqual([]);
  });

  it('a cached file with the wrong md5 is refused, not used and not deleted', async () => {
    const folder = weightsFolder(cacheDir);
    await fs.mkdir(folder, { recursive: true });
    await fs.writeFile(path.join(folder, 'good.h5'), 'not the weights');
    const err = await ensureWeightsFile({ url: url('/good.h5'), md5: GOOD_MD5, log: () => {} }).catch((e) => e);
    expect(err).toBeInstanceOf(WeightsChecksumError);
    expect(err.message).toContain(path.join(folder, 'good.h5'));
    expect(err.message).toContain(`expected ${GOOD_MD5}`);
    expect(hits.size).toBe(0);
    expect(await cacheFiles()).toEqual(['good.h5']);
  });
});

describe('loadPretrainedWeights: tfjs cache → .h5 cache → download', () => {
  function base(seed: number) {
    const input = tfl.input({ shape: [5, 5, 2] });
    let x = tfl.layers.conv2d({ filters: 3, kernelSize: 3, name: 'block1_conv1', kernelInitializer: tfl.initializers.glorotUniform({ seed }) }).apply(input) as tfl.SymbolicTensor;
    x = tfl.layers.batchNormalization({ name: 'block1_bn', scale: false }).apply(x) as tfl.SymbolicTensor;
    return tfl.model({ inputs: input, outputs: x });
  }
  const out = (m: tfl.LayersModel) =>
    tf.tidy(() => Array.from((m.predict(tf.ones([1, 5, 5, 2])) as tf.Tensor).dataSync()));

  it('downloads once, then loads from the tfjs cache without the server or the .h5', async () => {
    const reference = base(1);
    const bn = reference.getLayer('block1_bn');
    const [beta, mean, variance] = bn.getWeights();
    bn.setWeights([tf.add(beta, 0.3), tf.add(mean, 0.1), tf.mul(variance, 2)]);
    const h5Path = path.join(tmpRoot, 'small.h5');
    await writeKerasH5Weights(reference, h5Path);
    h5Bytes = await fs.readFile(h5Path);
    const opts = { arch: 'tiny', url: url('/small.h5'), md5: md5(h5Bytes), onProgress: () => {}, log: () => {} };

    const first = base(2);
    const r1 = await loadPretrainedWeights(first, opts);
    expect(r1).toMatchObject({ source: 'download', loaded: 2, skipped: [] });
    expect(out(first)).toEqual(out(reference));
    expect(hits.get('/small.h5')).toBe(1);

    // Remove the .h5: a tfjs cache hit must not need it (nor the network).
    await fs.rm(r1.h5Path!);
    const second = base(3);
    const r2 = await loadPretrainedWeights(second, opts);
    expect(r2).toMatchObject({ source: 'tfjs-cache', loaded: 2 });
    expect(out(second)).toEqual(out(reference));
    expect(hits.get('/small.h5')).toBe(1);

    // Without the tfjs copy but with the .h5 cached: loads from the .h5 and rebuilds the tfjs copy.
    await fs.rm(path.join(cacheDir, 'tfjs-weights'), { recursive: true });
    await fs.writeFile(r1.h5Path!, h5Bytes);
    const third = base(4);
    expect(await loadPretrainedWeights(third, opts)).toMatchObject({ source: 'h5-cache', loaded: 2 });
    expect(out(third)).toEqual(out(reference));
    expect(await fs.readdir(path.join(cacheDir, 'tfjs-weights'))).toEqual([`tiny-${opts.md5}`]);
    expect(hits.get('/small.h5')).toBe(1);
  });

  it('offline with nothing cached: the clear WeightsUnavailableError', async () => {
    const err = await loadPretrainedWeights(base(1), {
      arch: 'tiny',
      url: 'http://127.0.0.1:1/keras-applications/tiny_notop.h5',
      md5: GOOD_MD5,
      log: () => {},
    }).catch((e) => e);
    expect(err).toBeInstanceOf(WeightsUnavailableError);
    expect(err.message).toMatch(/tiny_notop\.h5.*127\.0\.0\.1:1.*keras-weights/s);
  });
});
