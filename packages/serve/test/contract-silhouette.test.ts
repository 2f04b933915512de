// The prediction contract over HTTP with a detector that has a silhouette part (ood.json
// parts-ood/2, the demo fixture fitted with the shape part as training does): the answer names
// `knn+silhouette` and carries the shape part's score and threshold, a photo the shape part rejects
// is unknown even when its feature score passes, and /api/model describes the shape threshold.
import { promises as fsp } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import { encodeRgbPng, type RawImage } from '@parts/data';
import { OOD_JSON } from '@parts/models';
import path from 'node:path';
import { makeTrainedModel, type TrainedFixture } from '../../models/test/trained-model-fixture';
import { contractServers, tempDir } from './fixtures';

let dir: string;
let fx: TrainedFixture;
let known: Buffer;
let nut: Buffer;
const { start, post, closeAll } = contractServers(() => fx.modelDir);

/** A dark ring (a nut seen from above) on light paper, 320×240 like the demo photos. */
function ringPhoto(): RawImage {
  const [w, h] = [320, 240];
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) {
    const d2 = (i % w - 160) ** 2 + (Math.floor(i / w) - 120) ** 2;
    data.fill(d2 <= 45 ** 2 && d2 > 20 ** 2 ? 40 : 220, i * 3, i * 3 + 3);
  }
  return { data, width: w, height: h };
}

beforeAll(async () => {
  await initBackend('cpu', () => {});
  dir = await tempDir('serve-silhouette-');
  fx = await makeTrainedModel(dir, { runId: 'demo-sil', silhouette: true });
  known = await fsp.readFile(fx.known[1]!.file); // a big-bolt test photo
  nut = await encodeRgbPng(ringPhoto());
});

afterAll(async () => {
  await closeAll();
  if (dir) await fsp.rm(dir, { recursive: true, force: true });
});

describe('a model whose ood.json has a silhouette part', () => {
  it('answers with both parts (model worker thread): a known bolt is accepted by each, a nut is rejected by the shape part', async () => {
    const s = await start({ workers: 1 });
    const stored = JSON.parse(await fsp.readFile(path.join(fx.modelDir, OOD_JSON), 'utf8'));
    expect(stored.format).toBe('parts-ood/2');
    const k = await post(s, known);
    expect(k).toMatchObject({ label: 'big', unknown: false, ood: { method: 'knn+silhouette', threshold: stored.threshold, silhouette: { threshold: stored.silhouette.threshold } } });
    expect(k.ood.score).toBeGreaterThanOrEqual(k.ood.threshold);
    expect(k.ood.silhouette.score).toBeGreaterThanOrEqual(k.ood.silhouette.threshold);
    const n = await post(s, nut);
    expect(n).toMatchObject({ label: null, unknown: true, ood: { method: 'knn+silhouette' } });
    expect(n.ood.silhouette.score).not.toBeNull(); // an object was found: its shape is what is rejected
    expect(n.ood.silhouette.score).toBeLessThan(n.ood.silhouette.threshold);
  });

  it('a photo the shape part rejects is unknown even when its feature score passes', async () => {
    const n0 = await post(await start(), nut);
    // A feature threshold just under the nut's feature score: the feature part accepts it.
    const s = await start({ unknown: { threshold: n0.ood.score - 1e-6 } });
    const n = await post(s, nut);
    expect(n.ood.score).toBeGreaterThanOrEqual(n.ood.threshold);
    expect(n.ood.silhouette.score).toBeLessThan(n.ood.silhouette.threshold);
    expect(n).toMatchObject({ unknown: true, label: null, top: expect.any(String) });
    // The same threshold accepts the known bolt: nothing else makes the nut unknown.
    expect(await post(s, known)).toMatchObject({ unknown: false, label: 'big' });
  });

  it('GET /api/model describes the silhouette threshold and its own accept rate', async () => {
    const s = await start();
    const card: any = await (await fetch(`${s.url}/api/model`)).json();
    const stored = JSON.parse(await fsp.readFile(path.join(fx.modelDir, OOD_JSON), 'utf8'));
    expect(card.unknown).toMatchObject({
      active: true,
      method: 'knn+silhouette',
      threshold: stored.threshold,
      acceptRate: 0.95,
      silhouette: { threshold: stored.silhouette.threshold, acceptRate: stored.silhouette.acceptRate },
    });
    expect(card.unknown.silhouette.acceptRate).toBeCloseTo(Math.sqrt(0.95), 12);
  });
});
