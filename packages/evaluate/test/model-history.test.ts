import { execFileSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { historyDir, listHistoryModels, readHistory, rollbackTo } from '../src/model-history';
import { promoteRun, readModelCard, rollback } from '../src/promote';
import { modelHash, readModelFiles, registryHistory } from '@parts/serve';
import { fakeRun, tempDir } from './helpers';
import { POSTGRES_MISSING, testPostgres } from '../../serve/test/postgres';

const servedRun = async (dir: string) => JSON.parse(await fs.readFile(path.join(dir, 'model.json'), 'utf8')).runId;

describe('promotion history and rollback to any earlier model', () => {
  it('keeps every promoted model, rolls back to any of them atomically, and records each change', async () => {
    const root = await tempDir();
    const target = path.join(root, 'serve', 'model');
    const a = await fakeRun(root, 'a', 2);
    const b = await fakeRun(root, 'b', 3);
    const c = await fakeRun(root, 'c', 4);
    for (const r of [a, b, c]) expect((await promoteRun(r.dir, { parity: false, target })).promoted).toBe(true);
    expect(await servedRun(target)).toBe('c');
    // The run's config.json travels with the served model (the recipe retrain repeats).
    expect(JSON.parse(await fs.readFile(path.join(target, 'config.json'), 'utf8')).runId).toBe('c');
    expect((await listHistoryModels(target)).map((m) => m.runId)).toEqual(['a', 'b', 'c']);

    // Two steps back: not reachable through model.prev (which holds b).
    const res = await rollbackTo('a', { target });
    expect(res.message).toMatch(/rolled back .* to a .*c kept in/);
    expect(await servedRun(target)).toBe('a');
    expect(await servedRun(`${target}.prev`)).toBe('c');
    expect((await readModelCard(target))!.runId).toBe('a');
    // Every file came back, the card included, and nothing temporary is left.
    expect((await fs.readdir(target)).sort()).toEqual((await fs.readdir(path.join(historyDir(target), 'a'))).sort());
    expect((await fs.readdir(path.dirname(target))).filter((n) => n.startsWith('.'))).toEqual([]);

    // The plain rollback (model.prev) is recorded too.
    await rollback({ target });
    expect(await servedRun(target)).toBe('c');
    const events = (await readHistory(target)).events.map((e) => [e.action, e.runId, e.previous]);
    expect(events).toEqual([
      ['promote', 'a', null],
      ['promote', 'b', 'a'],
      ['promote', 'c', 'b'],
      ['rollback', 'a', 'c'],
      ['rollback', 'c', 'a'],
    ]);
    expect((await rollbackTo('c', { target })).message).toMatch(/already in service/);
    await expect(rollbackTo('zzz', { target })).rejects.toThrow(/no model 'zzz' in the history .*; kept: a, b, c/);
  });

  it('a rollback whose copy fails leaves the served model as it was', async () => {
    const root = await tempDir();
    const target = path.join(root, 'serve', 'model');
    for (const id of ['a', 'b']) await promoteRun((await fakeRun(root, id, 3)).dir, { parity: false, target });
    // A history entry that cannot be copied: a named pipe inside it (fs.cp refuses FIFOs).
    const fifo = path.join(historyDir(target), 'a', 'pipe');
    execFileSync('mkfifo', [fifo]);
    await expect(rollbackTo('a', { target })).rejects.toThrow();
    expect(await servedRun(target)).toBe('b');
    expect((await readModelCard(target))!.runId).toBe('b');
    expect((await fs.readdir(path.dirname(target))).filter((n) => n.startsWith('.'))).toEqual([]);
    expect((await readHistory(target)).events.at(-1)).toMatchObject({ action: 'promote', runId: 'b' });
    await fs.rm(fifo);
    await rollbackTo('a', { target });
    expect(await servedRun(target)).toBe('a');
    expect(existsSync(`${target}.prev`)).toBe(true);
  });
});

describe.skipIf(POSTGRES_MISSING)('promote and rollback with --db (the model registry on PostgreSQL)', () => {
  it('record each change of the served folder in the registry, the same model as the folder holds', async () => {
    const url = await (await testPostgres()).newDatabase();
    const root = await tempDir();
    const target = path.join(root, 'serve', 'model');
    const a = await fakeRun(root, 'a', 2);
    const b = await fakeRun(root, 'b', 3);
    expect((await promoteRun(a.dir, { parity: false, target, db: url })).message).toMatch(/recorded in the model registry as [0-9a-f]{12} \(promote #1\)/);
    expect((await promoteRun(b.dir, { parity: false, target, db: url })).promoted).toBe(true);
    const served = async () => modelHash(await readModelFiles(target));
    const history = async () => (await registryHistory(url)).map((p) => [p.action, p.runId]);
    expect((await registryHistory(url)).at(-1)!.modelHash).toBe(await served());
    await rollback({ target, db: url });
    expect((await registryHistory(url)).at(-1)).toMatchObject({ action: 'rollback', runId: 'a', modelHash: await served() });
    await rollbackTo('b', { target, db: url });
    expect((await registryHistory(url)).at(-1)).toMatchObject({ action: 'rollback', runId: 'b', modelHash: await served() });
    expect(await history()).toEqual([
      ['promote', 'a'],
      ['promote', 'b'],
      ['rollback', 'a'],
      ['rollback', 'b'],
    ]);
    // An unreachable registry: the local folder changed, and the error says the registry did not.
    const dead = 'postgres://nobody@127.0.0.1:1/none';
    await expect(rollback({ target, db: dead })).rejects.toThrow(/now serves the new model, but the model registry at postgres:\/\/nobody@127\.0\.0\.1:1\/none was not updated/);
  });
});
