// The signatures the near-duplicate groups take are reused by the data check of the same photos
// (training runs both): the same report, each photo's signature taken once, and the check really
// reads the cache (a planted signature changes what it finds).
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkDataset, generateDemoDataset, listDataset, type DatasetIndex, type SignatureCache } from '../src/index';

let index: DatasetIndex;
let cache: SignatureCache;

beforeAll(async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'sig-cache-'));
  await generateDemoDataset(root, { seed: 9, trainPerClass: 8, testPerClass: 3, width: 96, height: 72 });
  cache = new Map();
  index = await listDataset(root, { groupThreshold: 0.6, signatures: cache });
}, 60_000);

const sha = async (file: string) => createHash('sha256').update(await fs.readFile(file)).digest('hex');

describe('signatures shared between the groups and the data check', () => {
  it('the groups leave one signature per distinct photo they read', async () => {
    const trainFolder = [...index.splits.train, ...index.splits.val];
    const hashes = new Set(await Promise.all(trainFolder.map((s) => sha(s.file))));
    expect(cache.size).toBe(hashes.size);
    for (const h of hashes) expect(cache.get(h)).toBeInstanceOf(Float32Array);
  });

  it('the check gives the same report with the shared signatures as without, and adds those it had to take', async () => {
    const shared = new Map(cache);
    const withCache = await checkDataset(index, { signatures: shared });
    const without = await checkDataset(index);
    expect(withCache).toEqual(without);
    expect(shared.size).toBe(cache.size + index.splits.test.length);
  });

  it('reads the shared signatures: one planted as another photo\'s makes the two a near-duplicate pair', async () => {
    const [a, b] = index.splits.train.filter((s) => s.label === 0);
    const planted = new Map(cache);
    planted.set(await sha(b!.file), planted.get(await sha(a!.file))!);
    const rel = (f: string) => path.relative(index.root, f).split(path.sep).join('/');
    const pairOf = (r: Awaited<ReturnType<typeof checkDataset>>) =>
      r.nearDuplicates.some((p) => [p.a.path, p.b.path].sort().join() === [rel(a!.file), rel(b!.file)].sort().join());
    expect(pairOf(await checkDataset(index))).toBe(false);
    expect(pairOf(await checkDataset(index, { signatures: planted }))).toBe(true);
  });
});
