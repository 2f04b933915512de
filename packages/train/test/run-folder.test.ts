import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRunFolder, discardRunFolder, finalizeRunFolder, isCompleteRun, listRunDirs, readRun, RUN_FILES, runListOptions, splitCountChanges, writeRunJson } from '../src/run-folder';

describe('run folders', () => {
  it('builds the run under .tmp-<id> and only shows it under its name once finalised', async () => {
    const out = await fs.mkdtemp(path.join(os.tmpdir(), 'runs-'));
    const run = await createRunFolder(out, 'tinyvgg', 'scratch');
    expect(path.basename(run.tmpDir)).toBe(`.tmp-${run.runId}`);
    expect(run.runId).toMatch(/^\d{8}-\d{6}-tinyvgg-scratch$/);
    await writeRunJson(run, 'metrics.json', { ok: true });
    await expect(fs.access(run.finalDir)).rejects.toThrow();
    expect(await isCompleteRun(run.tmpDir)).toBe(false); // no model yet
    await fs.mkdir(path.join(run.tmpDir, 'model'));
    await fs.writeFile(path.join(run.tmpDir, 'model', 'classifier.json'), '{}');
    await finalizeRunFolder(run);
    expect(await isCompleteRun(run.finalDir)).toBe(true);
    expect(JSON.parse(await fs.readFile(path.join(run.finalDir, 'metrics.json'), 'utf8'))).toEqual({ ok: true });
  });

  it('gives runs started in the same second distinct names, and discards failed ones', async () => {
    const out = await fs.mkdtemp(path.join(os.tmpdir(), 'runs-'));
    const a = await createRunFolder(out, 'x', 'scratch');
    const b = await createRunFolder(out, 'x', 'scratch');
    expect(a.runId).not.toBe(b.runId);
    await discardRunFolder(a);
    await discardRunFolder(b);
    expect(await fs.readdir(out)).toEqual([]);
  });

  it('reads runs back, turning missing or broken files into problems instead of errors', async () => {
    const out = await fs.mkdtemp(path.join(os.tmpdir(), 'runs-'));
    const run = await createRunFolder(out, 'tinyvgg', 'scratch');
    await writeRunJson(run, RUN_FILES.config, { runId: run.runId });
    await fs.writeFile(path.join(run.tmpDir, RUN_FILES.history), '{oops');
    await fs.mkdir(path.join(out, '.hidden'));
    expect(await listRunDirs(out)).toEqual([run.tmpDir]);
    expect(await listRunDirs(path.join(out, 'none'))).toEqual([]);
    const info = await readRun(run.tmpDir);
    expect(info.runId).toBe(run.runId);
    expect(info.status).toBe('incomplete');
    expect(info.problems[0]).toMatch(/^unfinished/);
    expect(info.problems).toContain('missing metrics.json');
    expect(info.problems).toContain('missing model/classifier.json');
    expect(info.problems.some((p) => p.includes(`${RUN_FILES.history} is not valid JSON`))).toBe(true);
    expect(info.history).toBeUndefined();
  });

  it('lists runs and broken runs, but not folders of runs (a cv folder, the learning curve runs)', async () => {
    const out = await fs.mkdtemp(path.join(os.tmpdir(), 'parts-runs-'));
    const mk = async (rel: string, files: string[]) => {
      await fs.mkdir(path.join(out, rel), { recursive: true });
      for (const f of files) await fs.writeFile(path.join(out, rel, f), '{}');
    };
    await mk('a-run', [RUN_FILES.config]);
    await mk('broken', []);
    await mk('x-cv3', [RUN_FILES.cv]);
    await mk('learning-curve/n10', [RUN_FILES.config]);
    expect(await listRunDirs(out)).toEqual([path.join(out, 'a-run'), path.join(out, 'broken')]);
    await fs.rm(out, { recursive: true, force: true });
  });
});

describe('runListOptions', () => {
  it("re-lists a run's dataset with the options it was split with", () => {
    const config = { options: { valSplit: 0.2, seed: 7, skipBad: true, groupThreshold: 0.6 }, data: { groups: { crowd: 10 } } };
    expect(runListOptions(config)).toEqual({ valSplit: 0.2, seed: 7, skipBad: true, groupThreshold: 0.6, groupCrowd: 10 });
  });

  it('lists runs recorded before near-duplicate groups photo by photo, and before the crowd with plain chaining', () => {
    expect(runListOptions(undefined)).toEqual({ valSplit: undefined, seed: undefined, skipBad: false, groupThreshold: 0, groupCrowd: Infinity });
    expect(runListOptions({ options: { groupThreshold: 0.6 }, data: {} }).groupCrowd).toBe(Infinity);
    expect(runListOptions({ options: { groupThreshold: 0.6 }, data: { groups: { crowd: null } } }).groupCrowd).toBe(Infinity);
  });
});

describe('splitCountChanges', () => {
  const index = (classes: string[], counts: Record<'train' | 'val' | 'test', number[]>) => ({
    classes,
    splits: Object.fromEntries(
      (['train', 'val', 'test'] as const).map((s) => [s, counts[s].flatMap((n, label) => Array.from({ length: n }, () => ({ label })))]),
    ) as Record<'train' | 'val' | 'test', { label: number }[]>,
  });
  const config = { data: { classes: ['big', 'small'], counts: { train: [20, 18], val: [5, 4], test: [7, 7] } } };

  it('is empty when the splits hold the recorded photos per class, whatever order the classes are listed in', () => {
    expect(splitCountChanges(index(['big', 'small'], { train: [20, 18], val: [5, 4], test: [7, 7] }), config)).toEqual([]);
    expect(splitCountChanges(index(['small', 'big'], { train: [18, 20], val: [4, 5], test: [7, 7] }), config)).toEqual([]);
  });

  it('names each split and class that changed, and a class that is new or gone', () => {
    expect(splitCountChanges(index(['big', 'small'], { train: [20, 18], val: [5, 4], test: [8, 7] }), config)).toEqual(['the test split has big 8 photos now, the run had big 7']);
    expect(splitCountChanges(index(['big', 'nut', 'small'], { train: [19, 3, 18], val: [5, 1, 4], test: [7, 0, 7] }), config)).toEqual([
      'the train split has big 19, nut 3 photos now, the run had big 20, nut 0',
      'the val split has nut 1 photos now, the run had nut 0',
    ]);
  });

  it('says nothing for a run that recorded no counts', () => {
    expect(splitCountChanges(index(['a'], { train: [1], val: [0], test: [1] }), undefined)).toEqual([]);
    expect(splitCountChanges(index(['a'], { train: [1], val: [0], test: [1] }), { data: {} })).toEqual([]);
  });
});
