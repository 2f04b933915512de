// ModelHost's folder watch racing its own shutdown: a tick that was reading the model folder when
// close() ran must end quietly (it once read the closed engine and became an unhandled rejection).
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { initBackend } from '@parts/backend';
import { ModelHost } from '../src/model-host';
import { makeModel, tempDir } from './fixtures';

describe('ModelHost', () => {
  it('a watch tick that overlaps close() ends without an error', async () => {
    await initBackend('cpu', () => {});
    const dir = await tempDir();
    try {
      await makeModel(path.join(dir, 'model'), { runId: 'tiny-host', imgSize: 32, seed: 3 });
      const host = new ModelHost({ modelDir: path.join(dir, 'model'), workers: 0, backend: 'cpu', maxBatch: 4, watchIntervalMs: 0, log: () => {} });
      await host.start();
      const tick = host.poll(); // reads the folder's signature asynchronously
      await host.close(); // the engine goes away meanwhile
      await expect(tick).resolves.toBeUndefined();
      expect(host.ready).toBe(false);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});
