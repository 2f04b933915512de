import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dataOrDemo } from '../src/index';

describe('demo-dataset fallback', () => {
  const initCwd = process.env.INIT_CWD;
  afterEach(() => {
    if (initCwd === undefined) delete process.env.INIT_CWD;
    else process.env.INIT_CWD = initCwd;
  });

  it('dataOrDemo resolves a given --data against the folder the user ran pnpm from', async () => {
    process.env.INIT_CWD = '/some/where';
    expect(await dataOrDemo('photos')).toBe(path.resolve('/some/where', 'photos'));
  });
});
