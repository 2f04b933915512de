import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLASSIFIER_JSON, readClassifierFile, readClassifierMeta, resolveModelDir, validateClassifierMeta } from '../src/classifier-file';

const good = { format: 'parts-classifier/1', arch: 'tinyvgg', mode: 'scratch', labels: ['big', 'small'], imgSize: 32, fit: 'cover', preprocess: 'rescale01', outputActivation: 'sigmoid' };

describe('classifier.json reader', () => {
  it('reads a model folder or a run folder holding model/, keeping fields it does not know', async () => {
    const run = await fs.mkdtemp(path.join(os.tmpdir(), 'clf-'));
    await fs.mkdir(path.join(run, 'model'));
    await fs.writeFile(path.join(run, 'model', CLASSIFIER_JSON), JSON.stringify({ ...good, extra: { format: 'x/1' } }));
    expect(await resolveModelDir(run)).toBe(path.join(run, 'model'));
    const meta = await readClassifierMeta(run);
    expect(meta).toMatchObject(good);
    expect((meta as unknown as { extra: unknown }).extra).toEqual({ format: 'x/1' });
    await expect(resolveModelDir(path.join(run, 'nope'))).rejects.toThrow(/no classifier in .*nope/);
  });

  it('names the file and every bad field', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'clf-'));
    const file = path.join(dir, CLASSIFIER_JSON);
    await fs.writeFile(file, JSON.stringify({ ...good, labels: ['one'], imgSize: 0 }));
    const err = await readClassifierFile(file).catch((e: Error) => e.message);
    expect(err).toContain(file);
    expect(err).toMatch(/labels must list at least 2 classes/);
    expect(err).toMatch(/imgSize must be an integer >= 8 \(got 0\)/);
    await fs.writeFile(file, '{not json');
    await expect(readClassifierFile(file)).rejects.toThrow(new RegExp(`cannot read ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    expect(() => validateClassifierMeta([], 'x')).toThrow(/x\): expected a JSON object/);
    expect(() => validateClassifierMeta({ ...good, outputActivation: 'sigmoid', labels: ['a', 'b', 'c'] }, 'x')).toThrow(/sigmoid output needs exactly 2 labels/);
  });
});
