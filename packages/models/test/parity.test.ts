import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@parts/backend';
import {
  buildClassifier,
  checkParity,
  checkParityDir,
  pickParityPhotos,
  readParity,
  recordParity,
  saveClassifier,
  writeParity,
  PARITY_JSON,
  type Classifier,
} from '../src/index';
import { parityTestPhotos as photos, withClassifierOn } from './parity-fixtures';

let dir: string;
beforeAll(async () => {
  await initBackend('wasm', () => {});
  dir = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'parity-')), 'model');
  const { model, meta } = buildClassifier({ arch: 'partsnet', mode: 'scratch', imgSize: 32, numClasses: 3, seed: 5 });
  await saveClassifier(model, { ...meta, format: 'parts-classifier/1', labels: ['a', 'b', 'c'], fit: 'contain' }, dir);
  model.dispose();
});

const withBackend = <T>(backend: 'wasm' | 'cpu', f: (c: Classifier) => Promise<T>): Promise<T> => withClassifierOn(backend, dir, f);

describe('parity record', () => {
  it('records on wasm, passes on cpu and on wasm again, from the files in the model folder', async () => {
    const all = await photos(8);
    const chosen = pickParityPhotos(all, 5);
    expect(chosen).toHaveLength(5);
    // The smallest files are picked.
    expect(Math.max(...chosen.map((p) => p.bytes.length))).toBeLessThanOrEqual(Math.min(...all.filter((p) => !chosen.includes(p)).map((p) => p.bytes.length)));
    const record = await withBackend('wasm', (c) => recordParity(c, chosen));
    expect(record.format).toBe('parts-parity/1');
    expect(record.backend).toBe('wasm');
    expect(record.entries).toHaveLength(5);
    for (const e of record.entries) expect(e.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    await writeParity(dir, record, chosen);
    const read = await readParity(dir);
    expect(read!.record).toEqual(record);
    const cpu = await withBackend('cpu', async (c) => {
      const before = tf.memory().numTensors;
      const r = await checkParityDir(c);
      expect(tf.memory().numTensors).toBe(before);
      return r;
    });
    console.log(`parity wasm record vs cpu: max |dp| = ${cpu.maxAbsDiff.toExponential(2)}`);
    expect(cpu).toMatchObject({ ok: true, photos: 5, backend: 'cpu', recordBackend: 'wasm' });
    expect(cpu.maxAbsDiff).toBeLessThan(record.tolerance);
    const wasm = await withBackend('wasm', (c) => checkParityDir(c));
    expect(wasm.ok).toBe(true);
  });

  it('fails for a model whose weights changed a little', async () => {
    await withBackend('wasm', async (c) => {
      const read = (await readParity(dir))!;
      expect((await checkParity(c, read.record, read.photos)).ok).toBe(true);
      // One weight of the output layer moved by 0.01 (its weights are about ±0.1).
      const out = c.model.getLayer('predictions');
      const [kernel, bias] = out.getWeights();
      const k = kernel.arraySync() as number[][];
      k[0][0] += 0.01;
      out.setWeights([tf.tensor2d(k), bias]);
      const r = await checkParity(c, read.record, read.photos);
      console.log(`parity after a 0.01 change of one weight: max |dp| = ${r.maxAbsDiff.toExponential(2)}`);
      expect(r.ok).toBe(false);
      expect(r.reason).toMatch(/above the tolerance/);
    });
  });

  it('fails with a reason for missing or altered photos, other labels, and a bad record file', async () => {
    await withBackend('wasm', async (c) => {
      const read = (await readParity(dir))!;
      const first = read.record.entries[0];
      const missing = new Map(read.photos);
      missing.delete(first.sha256);
      expect(await checkParity(c, read.record, missing)).toMatchObject({ ok: false, reason: expect.stringMatching(/missing/) });
      const altered = new Map(read.photos);
      altered.set(first.sha256, Buffer.concat([read.photos.get(first.sha256)!, Buffer.from([0])]));
      expect(await checkParity(c, read.record, altered)).toMatchObject({ ok: false, reason: expect.stringMatching(/SHA-256/) });
      expect(await checkParity(c, { ...read.record, labels: ['x', 'y', 'z'] }, read.photos)).toMatchObject({ ok: false, reason: expect.stringMatching(/labels differ/) });

      const bad = path.join(path.dirname(dir), 'bad-model');
      await fs.mkdir(bad, { recursive: true });
      await fs.writeFile(path.join(bad, PARITY_JSON), '{"format":"parts-parity/1","tolerance":2}');
      await expect(readParity(bad)).rejects.toThrow(/invalid parity record .*parity\.json.*tolerance/);
      await fs.writeFile(path.join(bad, PARITY_JSON), '{oops');
      await expect(readParity(bad)).rejects.toThrow(/cannot parse .*parity\.json/);
      await fs.rm(path.join(bad, PARITY_JSON));
      expect(await readParity(bad)).toBeNull();
      expect(await checkParityDir({ ...c, dir: bad })).toMatchObject({ ok: false, reason: expect.stringMatching(/no parity\.json/) });
    });
  });
});
