import os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, wantedWasmThreads, wasmThreadsInUse } from '../src/index';
import { on, relErr, tensor } from './helpers';

const saved = process.env.PARTS_WASM_THREADS;
afterEach(() => {
  if (saved == null) delete process.env.PARTS_WASM_THREADS;
  else process.env.PARTS_WASM_THREADS = saved;
});

describe('wasm backend threads', () => {
  it('PARTS_WASM_THREADS sets the count and a bad value is named in the error', () => {
    process.env.PARTS_WASM_THREADS = '3';
    expect(wantedWasmThreads()).toBe(3);
    process.env.PARTS_WASM_THREADS = 'two';
    expect(() => wantedWasmThreads()).toThrow(/PARTS_WASM_THREADS.*'two'/);
    delete process.env.PARTS_WASM_THREADS;
    expect(wantedWasmThreads()).toBe(Math.min(8, os.availableParallelism()));
  });

  it('runs on the asked-for number of threads (also on a machine without SMT) with the same results as the cpu backend', async () => {
    const info = await initBackend('wasm', () => {});
    const want = saved ? Number(saved) : Math.min(8, os.availableParallelism());
    expect(wasmThreadsInUse()).toBe(want);
    expect(info.device).toContain(`${want} thread`);
    // Big enough for XNNPACK to split the work across the pool.
    const run = () => {
      const x = tensor([4, 24, 24, 16], 1) as tf.Tensor4D;
      const f = tensor([3, 3, 16, 32], 2) as tf.Tensor4D;
      return [tf.conv2d(x, f, 1, 'same'), tf.matMul(tensor([96, 200], 3) as tf.Tensor2D, tensor([200, 64], 4) as tf.Tensor2D)];
    };
    const ref = await on('cpu', run);
    const got = await on('wasm', run);
    expect(relErr(got[0]!, ref[0]!)).toBeLessThan(1e-5);
    expect(relErr(got[1]!, ref[1]!)).toBeLessThan(1e-5);
  });
});
