import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EVALUATION_JSON, evaluationFileName, isOwnTestEvaluation, readEvaluation, readEvaluationFile } from '../src/evaluation-record';
import { fakeEvaluation, otherScope, tempDir } from './helpers';

const ev = fakeEvaluation({ runId: 'r', arch: 'tinyvgg', mode: 'scratch', labels: ['big', 'small'], items: [['/a.jpg', 'big', [0.9, 0.1]]] });

describe('evaluation files', () => {
  it('keeps evaluation.json for the run\'s own test split and names every other evaluation apart', () => {
    expect(evaluationFileName('test', '/data/parts', true)).toBe(EVALUATION_JSON);
    expect(evaluationFileName('train', '/data/parts', true)).toBe('evaluation-train.json');
    expect(evaluationFileName('val', '/data/parts', true)).toBe('evaluation-val.json');
    expect(evaluationFileName('test', '/other/bolts nuts/', false)).toBe('evaluation-test-bolts_nuts.json');
    // Another folder with the training dataset's name is still another dataset.
    expect(evaluationFileName('test', '/copy/parts', false)).toBe('evaluation-test-parts.json');
  });

  it('isOwnTestEvaluation: test split of the training dataset only', () => {
    expect(isOwnTestEvaluation(ev)).toBe(true);
    expect(isOwnTestEvaluation(otherScope(ev, { split: 'val' }))).toBe(false);
    expect(isOwnTestEvaluation(otherScope(ev, { dataRoot: '/elsewhere' }))).toBe(false);
  });

  it('readEvaluation refuses an evaluation.json that is not of the own test split; readEvaluationFile reads any', async () => {
    const dir = await tempDir();
    await fs.writeFile(path.join(dir, EVALUATION_JSON), JSON.stringify(ev));
    expect((await readEvaluation(dir)).runId).toBe('r');
    await fs.writeFile(path.join(dir, EVALUATION_JSON), JSON.stringify(otherScope(ev, { split: 'train' })));
    await expect(readEvaluation(dir)).rejects.toThrow(/evaluation\.json is an evaluation of the 'train' split of \/data .*not of the run's own test split/);
    expect((await readEvaluationFile(path.join(dir, EVALUATION_JSON))).split).toBe('train');
    await fs.writeFile(path.join(dir, EVALUATION_JSON), JSON.stringify({ ...ev, format: 'x' }));
    await expect(readEvaluation(dir)).rejects.toThrow(/unknown format "x"/);
  });
});
