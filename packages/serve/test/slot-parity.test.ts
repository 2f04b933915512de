// The parity check on serving slots: every slot up is checked; the first failing slot's result wins,
// else the largest difference; slots that are down are skipped, and no slot up is a failure.
import { promises as fsp } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ClassifierMeta, OodSummary, ParityRecord } from '@parts/models';
import { sha256Hex } from '@parts/models';
import { checkSlotsParity } from '../src/slot-parity';
import type { Slot } from '../src/slot';
import { photos } from './fixtures';

const meta: ClassifierMeta = { format: 'parts-classifier/1', arch: 't', mode: 'scratch', labels: ['big', 'small'], imgSize: 16, fit: 'cover', preprocess: 'rescale01', outputActivation: 'softmax' };
const ood: OodSummary = { active: false, reason: 'test', temperature: 1 };

/** A slot answering the same probabilities for every image, counting its calls. */
function fakeSlot(backend: string, p: number[]): Slot & { calls: number } {
  return {
    calls: 0,
    alive: true,
    backend,
    ood,
    async run(images) {
      this.calls++;
      return { predictions: [], modelProbabilities: images.map(() => p), predictMs: 0 };
    },
    stats: async () => ({ numTensors: 0, heapUsed: 0 }),
    close: async () => {},
  };
}

async function record(): Promise<{ record: ParityRecord; photos: Map<string, Buffer> }> {
  const bytes = await fsp.readFile((await photos()).big[0]!);
  const sha = sha256Hex(bytes);
  return {
    record: { format: 'parts-parity/1', tolerance: 1e-4, backend: 'cpu', labels: ['big', 'small'], imgSize: 16, fit: 'cover', createdAt: '', entries: [{ name: 'a.jpg', sha256: sha, file: `${sha}.jpg`, probabilities: [0.7, 0.3] }] },
    photos: new Map([[sha, bytes]]),
  };
}

describe('checkSlotsParity', () => {
  it('passes with the largest difference over the slots, skipping slots that are down', async () => {
    const r = await record();
    const a = fakeSlot('a', [0.7, 0.3]), b = fakeSlot('b', [0.70002, 0.29998]);
    const check = await checkSlotsParity([a, null, b], meta, r.record, r.photos);
    expect(check).toMatchObject({ ok: true, photos: 1, backend: 'b', recordBackend: 'cpu' });
    expect(check.maxAbsDiff).toBeCloseTo(2e-5, 9);
    expect([a.calls, b.calls]).toEqual([1, 1]);
  });

  it('returns the first failing slot and checks no further', async () => {
    const r = await record();
    const bad = fakeSlot('bad', [0.6, 0.4]), later = fakeSlot('later', [0.7, 0.3]);
    const check = await checkSlotsParity([fakeSlot('good', [0.7, 0.3]), bad, later], meta, r.record, r.photos);
    expect(check.ok).toBe(false);
    expect(check.backend).toBe('bad');
    expect(check.reason).toMatch(/differ from the record by 1\.00e-1 \(photo a\.jpg\)/);
    expect(later.calls).toBe(0);
  });

  it('fails when no slot is up', async () => {
    const r = await record();
    expect(await checkSlotsParity([null], meta, r.record, r.photos)).toMatchObject({ ok: false, reason: 'no model slot is up' });
  });
});
