// Parity across backends on WebGPU: a record made on the cpu backend passes on WebGPU within the
// stated tolerance, for the two from-scratch architectures (PartsNet's batch norm, Tiny VGG's ReLU
// convolutions take WebGPU-specific kernels), and a model whose weights changed after the record
// fails there too. Runs where a WebGPU adapter exists (scripts/test-webgpu.sh, CI's lavapipe run).
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@parts/backend';
import { webgpuForTests, webgpuTimeout } from '../../backend/test/webgpu-fixtures';
import { buildClassifier, checkParity, recordParity, saveClassifier } from '../src/index';
import { parityTestPhotos, withClassifierOn } from './parity-fixtures';

const adapter = await webgpuForTests('parity WebGPU tests');

describe.skipIf(!adapter)('parity on WebGPU', () => {
  for (const arch of ['partsnet', 'tinyvgg']) {
    it(`${arch}: recorded on cpu, passes on WebGPU; a changed weight fails there`, { timeout: webgpuTimeout(3) }, async () => {
      const dir = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'parity-webgpu-')), 'model');
      await initBackend('cpu', () => {});
      const { model, meta } = buildClassifier({ arch, mode: 'scratch', imgSize: 32, numClasses: 3, seed: 5 });
      // Sharper outputs than a fresh initialisation gives, so the probabilities are far from uniform.
      const out = model.getLayer('predictions');
      out.setWeights(out.getWeights().map((w) => tf.mul(w, 8)));
      await saveClassifier(model, { ...meta, format: 'parts-classifier/1', labels: ['a', 'b', 'c'], fit: 'contain' }, dir);
      model.dispose();
      const photos = await parityTestPhotos(5);
      const record = await withClassifierOn('cpu', dir, (c) => recordParity(c, photos));
      const spread = Math.max(...record.entries.flatMap((e) => e.probabilities)) - Math.min(...record.entries.flatMap((e) => e.probabilities));
      expect(spread).toBeGreaterThan(0.2);
      const byHash = new Map(record.entries.map((e, i) => [e.sha256, photos[i]!.bytes]));
      await withClassifierOn('webgpu', dir, async (c) => {
        const r = await checkParity(c, record, byHash);
        console.log(`parity ${arch} cpu record vs webgpu: max |dp| = ${r.maxAbsDiff.toExponential(2)}`);
        expect(r).toMatchObject({ ok: true, backend: 'webgpu', recordBackend: 'cpu' });
        const p = c.model.getLayer('predictions');
        const [kernel, bias] = p.getWeights();
        const k = (await kernel!.array()) as number[][];
        k[0]![0]! += 0.05;
        p.setWeights([tf.tensor2d(k), bias!]);
        const changed = await checkParity(c, record, byHash);
        expect(changed.ok).toBe(false);
        expect(changed.reason).toMatch(/above the tolerance/);
      });
    });
  }
});
