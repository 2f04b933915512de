// The drift alarm on real photos: a PartsNet trained briefly (64 px, 15 epochs, wasm, as in the
// Grad-CAM real-photo test) on ../shared/datasets/parts, served; its own held-out test photos leave the
// alarm quiet, the nut photos of ../shared/datasets/bolts-nuts (a part it never saw) set it off; the
// same for the mean OOD score against the validation scores ood.json records.
// Skipped when either dataset is absent.
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '@parts/cli';
import { train } from '../../train/src/index';
import { createServer, type PartsServer } from '../src/index';
import { request } from './fixtures';

const DATASETS = path.join(repoRoot(), '..', 'shared', 'datasets');
const PARTS = path.join(DATASETS, 'parts');
const NUTS = path.join(DATASETS, 'bolts-nuts');
const have = existsSync(path.join(PARTS, 'test')) && existsSync(path.join(NUTS, 'train'));

async function files(root: string, pick: (split: string, cls: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  for (const split of ['train', 'val', 'test']) {
    if (!existsSync(path.join(root, split))) continue;
    for (const cls of (await fsp.readdir(path.join(root, split))).sort()) {
      if (!pick(split, cls)) continue;
      for (const f of (await fsp.readdir(path.join(root, split, cls))).sort()) out.push(path.join(root, split, cls, f));
    }
  }
  return out;
}

describe.skipIf(!have)('drift alarm with the parts model on real photos', () => {
  let out: string;
  let modelDir: string;
  const servers: PartsServer[] = [];

  beforeAll(async () => {
    out = await fsp.mkdtemp(path.join(os.tmpdir(), 'drift-photos-'));
    const run = await train({ arch: 'partsnet', mode: 'scratch', data: PARTS, out, imgSize: 64, epochs: 15, batchSize: 8, seed: 42, backend: 'wasm', quiet: true, patience: 0 });
    modelDir = path.join(run.runDir, 'model');
    expect(existsSync(path.join(modelDir, 'ood.json'))).toBe(true);
  }, 600_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    if (out) await fsp.rm(out, { recursive: true, force: true });
  });

  async function feed(photos: string[]) {
    const s = await createServer({ modelDir, port: 0, workers: 0, backend: 'wasm', watchIntervalMs: 0, log: () => {} });
    servers.push(s);
    for (const f of photos) {
      const r = await request(`${s.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: await fsp.readFile(f) });
      expect(r.status, r.text).toBe(200);
    }
    return s.drift();
  }

  it('stays quiet on its own held-out photos', async () => {
    const held = await files(PARTS, (split) => split === 'test');
    const d = await feed(held);
    console.log(`parts test photos: ${d.unknown}/${d.answers} unknown, expected ${d.expectedUnknownRate}, p = ${d.pValue}; mean score ${d.meanOodScore} against validation's ${d.expectedMeanOodScore}, p = ${d.scorePValue}`);
    expect(d.answers).toBe(held.length);
    expect(d.alarm).toBe(false);
    // Not quiet merely for having fewer answers than the alarm needs: the test itself does not reject.
    expect(d.pValue!).toBeGreaterThanOrEqual(d.alarmPValue);
    // The mean score against the validation scores of ood.json: no shift either.
    expect(d.scoreAlarm).toBe(false);
    expect(d.scorePValue!).toBeGreaterThanOrEqual(d.alarmPValue);
  });

  it('fires on nut photos', async () => {
    const nuts = await files(NUTS, (_split, cls) => /_nut$/i.test(cls));
    expect(nuts.length).toBeGreaterThanOrEqual(30);
    const d = await feed(nuts);
    console.log(`nut photos: ${d.unknown}/${d.answers} unknown, expected ${d.expectedUnknownRate}, p = ${d.pValue}; mean score ${d.meanOodScore} against validation's ${d.expectedMeanOodScore}, p = ${d.scorePValue}`);
    expect(d.answers).toBe(Math.min(nuts.length, d.window));
    expect(d.alarm).toBe(true);
    expect(d.scoreAlarm).toBe(true);
  });
});
