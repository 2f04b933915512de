import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { abandonBackendStart, failOnPoolWorkerLost, startWasmBackend, workerScriptFiles } from '../src/wasm-setup';
import { wasmThreadsInUse } from '../src/index';

// Looked up at each use, as Emscripten's thread pool does.
const workerThreads = createRequire(import.meta.url)('node:worker_threads') as { Worker: typeof Worker };

afterEach(() => {
  vi.restoreAllMocks();
});

describe('threaded wasm start-up', () => {
  it('writes each worker script once, whole, and hands the same file out again for the same text', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worker-files-'));
    try {
      let wraps = 0;
      const fileFor = workerScriptFiles(dir, (text) => {
        wraps++;
        return `// head\n${text}\n// tail\n`;
      });
      const first = fileFor('script A');
      const ino = fs.statSync(first).ino;
      // tfjs asks once per pool worker, each time with a new Blob of the same text.
      for (let i = 0; i < 7; i++) expect(fileFor('script A')).toBe(first);
      expect(wraps).toBe(1);
      expect(fs.statSync(first).ino).toBe(ino);
      expect(fs.readFileSync(first, 'utf8')).toBe('// head\nscript A\n// tail\n');
      const second = fileFor('script B');
      expect(second).not.toBe(first);
      expect(fs.readFileSync(second, 'utf8')).toBe('// head\nscript B\n// tail\n');
      expect(fs.readFileSync(first, 'utf8')).toBe('// head\nscript A\n// tail\n');
      // No temporary file is left beside them.
      expect(fs.readdirSync(dir).sort()).toEqual([path.basename(first), path.basename(second)].sort());
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a pool worker that exits before it has loaded (an empty script) fails the start with its name instead of hanging', async () => {
    const emptyScript = '// pool worker\n';
    const start = failOnPoolWorkerLost(() => {
      new workerThreads.Worker(emptyScript, { eval: true });
      return new Promise<never>(() => {}); // the pool's readiness, which that worker never gives
    }, (script) => script === emptyScript);
    await expect(start).rejects.toThrow(/wasm threads: worker 1 of the thread pool \(script \/\/ pool worker\n\) exited with code 0 before it had loaded the wasm module/);
  });

  it('workers that are not the pool\'s may end as they like during the start', async () => {
    const value = await failOnPoolWorkerLost(async () => {
      const other = new workerThreads.Worker('// another part of the program\n', { eval: true });
      await new Promise((resolve) => other.once('exit', resolve));
      return 'up';
    }, (script) => script.startsWith('// pool worker'));
    expect(value).toBe('up');
  });

  it('workers that have loaded may end later; the start returns its value and the Worker class is restored', async () => {
    const Native = workerThreads.Worker;
    let worker: Worker | undefined;
    const value = await failOnPoolWorkerLost(async () => {
      worker = new workerThreads.Worker(`require('node:worker_threads').parentPort.postMessage({ cmd: 'loaded' });`, { eval: true });
      await new Promise((resolve) => worker!.once('message', resolve));
      return 'up';
    }, () => true);
    expect(value).toBe('up');
    expect(workerThreads.Worker).toBe(Native);
    await new Promise((resolve) => worker!.once('exit', resolve)); // exits on its own, after 'loaded'
  });

  it('puts the global Worker back when the start set it to the watched class (as Emscripten does)', async () => {
    const global = globalThis as { Worker?: unknown };
    const before = global.Worker;
    try {
      await failOnPoolWorkerLost(async () => {
        global.Worker = workerThreads.Worker; // what the module's start-up does with worker_threads' class
        return 'up';
      }, () => true);
      expect(global.Worker).toBe(workerThreads.Worker);
      expect((global.Worker as { name?: string }).name).not.toBe('WatchedWorker');
    } finally {
      global.Worker = before;
    }
  });

  it('a start that will never settle, once abandoned, does not hold up the next backend', async () => {
    // What a lost pool worker leaves: tfjs' pending start of the backend never settles, and tf.ready()
    // and the next backend's operations would wait on it for ever.
    tf.registerBackend('never-starts', () => new Promise<tf.KernelBackend>(() => {}), 0);
    try {
      void tf.setBackend('never-starts');
      abandonBackendStart('never-starts');
      expect(await tf.setBackend('cpu')).toBe(true);
      await tf.ready();
      expect(Array.from(await tf.add(tf.tensor1d([1, 2]), tf.tensor1d([3, 4])).data())).toEqual([4, 6]);
      // Still registered, with its factory, for a later try.
      expect(tf.findBackendFactory('never-starts')).not.toBeNull();
    } finally {
      tf.removeBackend('never-starts');
    }
  }, 60_000); // without the abandon, tf.ready() never returns: fail within a minute, not at the suite's limit

  it('starts on 2 threads even when every write of its files is slow (the worker script is never rewritten while workers read it)', async () => {
    // Each write into the start-up's temporary folder truncates, then waits 300 ms, then writes: what a
    // main thread descheduled between the two on a loaded machine does. A worker that read the script
    // in such a gap got an empty file, exited and left the start waiting for it.
    const write = fs.writeFileSync;
    const slowWrites: string[] = [];
    vi.spyOn(fs, 'writeFileSync').mockImplementation((file, data, options) => {
      if (!String(file).includes('parts-wasm-threads-')) return write(file, data, options);
      slowWrites.push(String(file));
      const fd = fs.openSync(file as fs.PathLike, 'w');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
      fs.writeSync(fd, data as string);
      fs.closeSync(fd);
    });
    await startWasmBackend(2);
    expect(slowWrites.length).toBeGreaterThan(0);
    expect(tf.getBackend()).toBe('wasm');
    expect(wasmThreadsInUse()).toBe(2);
    const product = tf.tidy(() => tf.matMul(tf.ones([96, 200]), tf.fill([200, 64], 0.5)));
    expect(Array.from(new Set(await product.data()))).toEqual([100]);
    product.dispose();
  });
});
