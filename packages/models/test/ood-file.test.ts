// ood.json / ood-<hash>.bin: round trip, atomic replacement, and errors naming the file and field.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { fitDetector, readOodFile, writeOodFile, OOD_JSON, type FitData, type OodDetector, type OodMethod } from '../src/ood/index';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});
async function tmp(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'ood-file-'));
  dirs.push(d);
  return d;
}

function data(n: number, seed: string): FitData {
  const r = seedrandom(seed);
  const d = 6;
  const c = 3;
  const labels = Array.from({ length: n }, (_, i) => i % c);
  const features = Float32Array.from({ length: n * d }, (_, j) => r() + (Math.floor(j / d) % c === j % d ? 3 : 0));
  const logits = Float32Array.from({ length: n * c }, (_, j) => r() * 2 + (labels[Math.floor(j / c)] === j % c ? 3 : 0));
  return { features, logits, labels, n, featureDim: d, numClasses: c };
}
const LABELS = ['a', 'b', 'c'];

function detector(method: OodMethod): OodDetector {
  return fitDetector(data(60, 'train'), data(30, 'val'), LABELS, { method });
}

describe('ood.json', () => {
  for (const method of ['msp', 'energy', 'mahalanobis', 'knn'] as const) {
    it(`${method}: round-trips with identical scores, threshold and temperature`, async () => {
      const dir = await tmp();
      const det = detector(method);
      await writeOodFile(dir, det);
      const back = await readOodFile(dir, { featureDim: 6, labels: LABELS });
      expect(back).not.toBeNull();
      expect([back!.method, back!.threshold, back!.acceptRate, back!.temperature]).toEqual([method, det.threshold, 0.95, det.temperature]);
      expect(back!.fittedOn).toEqual(det.fittedOn);
      expect(back!.fittedOn).toMatchObject({ n: 60, split: 'train', thresholdN: 30, thresholdSplit: 'val' });
      const probe = data(20, 'probe');
      expect(Array.from(back!.scorer.scoreRows(probe))).toEqual(Array.from(det.scorer.scoreRows(probe)));
      const files = await readdir(dir);
      expect(files.filter((f) => f.endsWith('.bin'))).toHaveLength(method === 'mahalanobis' || method === 'knn' ? 1 : 0);
      expect(files.some((f) => f.includes('.tmp-'))).toBe(false);
    });
  }

  it('a missing ood.json means no scorer', async () => {
    expect(await readOodFile(await tmp())).toBeNull();
  });

  it('rewriting replaces the pair and removes the stale .bin', async () => {
    const dir = await tmp();
    await writeOodFile(dir, detector('knn'));
    const first = (await readdir(dir)).filter((f) => f.endsWith('.bin'));
    await writeOodFile(dir, fitDetector(data(90, 'other'), data(30, 'val'), LABELS, { method: 'knn' }));
    const second = (await readdir(dir)).filter((f) => f.endsWith('.bin'));
    expect(second).toHaveLength(1);
    expect(second[0]).not.toBe(first[0]);
    expect((await readOodFile(dir))!.scorer.state.arrays.bank.shape[0]).toBe(90);
  });

  async function written(): Promise<{ dir: string; file: string; json: Record<string, unknown> }> {
    const dir = await tmp();
    await writeOodFile(dir, detector('mahalanobis'));
    const file = path.join(dir, OOD_JSON);
    return { dir, file, json: JSON.parse(await readFile(file, 'utf8')) };
  }

  it('corrupt JSON names the file', async () => {
    const { dir, file } = await written();
    await writeFile(file, '{"format": "parts-ood/1", ');
    await expect(readOodFile(dir)).rejects.toThrow(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not valid JSON`));
  });

  it.each([
    ['format', 'parts-ood/9', /field "format" is "parts-ood\/9", expected one of "parts-ood\/1", "parts-ood\/2"/],
    ['threshold', undefined, /field "threshold" is missing/],
    ['temperature', -1, /field "temperature" is -1, expected a number > 0/],
    ['method', 'vibes', /field "method" is "vibes"/],
    ['labels', ['a'], /field "labels" must list 3 class names/],
  ])('field %s: the error names the file and the field', async (field, value, re) => {
    const { dir, file, json } = await written();
    if (value === undefined) delete json[field];
    else json[field] = value;
    await writeFile(file, JSON.stringify(json));
    const err = await readOodFile(dir).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(file);
    expect((err as Error).message).toMatch(re);
  });

  it('an unknown threshold rule is refused, naming the field', async () => {
    const { dir, file, json } = await written();
    json.fittedOn = { ...(json.fittedOn as object), thresholdRule: 'guess' };
    await writeFile(file, JSON.stringify(json));
    await expect(readOodFile(dir)).rejects.toThrow(/field "fittedOn.thresholdRule" is "guess", expected one of confidence bound, quantile, tolerance bound, normal bound/);
  });

  it('the validation score summary is read back, and a malformed one refused naming the field', async () => {
    const { dir, file, json } = await written();
    json.fittedOn = { ...(json.fittedOn as object), thresholdScores: { mean: 0.99, sd: 0.004 } };
    await writeFile(file, JSON.stringify(json));
    expect((await readOodFile(dir))!.fittedOn.thresholdScores).toEqual({ mean: 0.99, sd: 0.004 });
    json.fittedOn = { ...(json.fittedOn as object), thresholdScores: { mean: 0.99, sd: -1 } };
    await writeFile(file, JSON.stringify(json));
    await expect(readOodFile(dir)).rejects.toThrow(/field "fittedOn.thresholdScores" is .*expected \{mean, sd\} with sd >= 0/);
  });

  it('the near-duplicate groups of the threshold photos are read back, and a count beyond the photos refused', async () => {
    const { dir, file, json } = await written();
    const n = (json.fittedOn as { thresholdN: number }).thresholdN;
    json.fittedOn = { ...(json.fittedOn as object), thresholdGroups: n - 1 };
    await writeFile(file, JSON.stringify(json));
    expect((await readOodFile(dir))!.fittedOn.thresholdGroups).toBe(n - 1);
    json.fittedOn = { ...(json.fittedOn as object), thresholdGroups: n + 1 };
    await writeFile(file, JSON.stringify(json));
    await expect(readOodFile(dir)).rejects.toThrow(new RegExp(`field "fittedOn.thresholdGroups" is ${n + 1}, expected an integer from 1 to thresholdN \\(${n}\\)`));
  });

  it('a model of another feature size or labels is refused, naming the field', async () => {
    const { dir } = await written();
    await expect(readOodFile(dir, { featureDim: 256 })).rejects.toThrow(/ood\.json: field "featureDim" is 6 but the model's penultimate layer has 256/);
    await expect(readOodFile(dir, { labels: ['a', 'b', 'x'] })).rejects.toThrow(/field "labels" are \[a, b, c\] but the model's are \[a, b, x\]/);
  });

  it('a changed, truncated or missing .bin is refused', async () => {
    const { dir, json } = await written();
    const bin = path.join(dir, (json.bin as { file: string }).file);
    const buf = await readFile(bin);
    buf[7] ^= 0xff;
    await writeFile(bin, buf);
    await expect(readOodFile(dir)).rejects.toThrow(/field "bin.sha256" does not match/);
    await writeFile(bin, buf.subarray(0, 16));
    await expect(readOodFile(dir)).rejects.toThrow(/field "bin.bytes"/);
    await rm(bin);
    await expect(readOodFile(dir)).rejects.toThrow(/field "bin" names .*ood-[0-9a-f]{16}\.bin, which cannot be read/);
  });
});
