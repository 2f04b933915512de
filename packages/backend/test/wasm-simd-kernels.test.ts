import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { initBackend, stopOnednnKernels } from '../src/index';
import { batchNormStats } from '../src/wasm-kernels/batch-norm-train';
import { im2colTLoop } from '../src/wasm-kernels/conv2d-backprop-filter';
import { maxPoolGradNHWC } from '../src/wasm-kernels/max-pool-grad';
import { instantiateSimdKernels, simdKernels, simdKernelsDisabled, simdKernelsFile, type SimdKernelExports } from '../src/wasm-kernels/simd';
import { values } from './helpers';

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WasmApi = (globalThis as unknown as { WebAssembly: { Memory: new (d: object) => { buffer: ArrayBuffer } } }).WebAssembly;

/** A standalone memory with a bump allocator, so the kernels are tested apart from tfjs. */
function arena(shared: boolean) {
  const memory = new WasmApi.Memory({ initial: 256, maximum: 65536, shared });
  const k = instantiateSimdKernels(memory);
  let top = 1024;
  const alloc = (floats: number): number => {
    const p = top;
    top += Math.ceil((floats * 4) / 16) * 16 + 16; // 16 bytes of slack catch overruns below
    return p;
  };
  const f32 = (p: number, n: number) => new Float32Array(memory.buffer, p, n);
  const f64 = (p: number, n: number) => new Float64Array(memory.buffer, p, n);
  const put = (data: Float32Array): number => {
    const p = alloc(data.length);
    f32(p, data.length).set(data);
    return p;
  };
  return { memory, k, alloc, f32, f64, put };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

for (const shared of [true, false]) {
  describe(`SIMD kernels (${shared ? 'shared' : 'plain'} memory) against plain loops`, () => {
    it('loads the binary built for this kind of memory', () => {
      const { memory } = arena(shared);
      expect(path.basename(fileURLToPath(simdKernelsFile(memory)))).toBe(`kernels-${shared ? 'shared' : 'plain'}.wasm`);
    });

    // cols 24 and 64: the SIMD path only; 7 and 6: a scalar tail; rows past one 64-row block.
    for (const [rows, cols] of [[300, 24], [130, 7], [65, 6], [1000, 64]] as const) {
      it(`batch-norm reductions and element passes, ${rows}×${cols}`, () => {
        const a = arena(shared);
        const x = Float32Array.from(values(rows * cols, 1), (v) => 3 * v + 0.5);
        const dy = values(rows * cols, 2);
        const xp = a.put(x), dyp = a.put(dy);
        const tmp = a.alloc(2 * cols), acc = a.alloc(2 * cols), acc2 = a.alloc(2 * cols);
        // mean and variance
        const ref = new Float32Array(2 * cols);
        batchNormStats(x, rows, cols, ref);
        a.f64(acc, cols).fill(0);
        a.k.sumCols(xp, 0, rows, cols, tmp, acc);
        const mean = a.put(Float32Array.from(a.f64(acc, cols), (s) => s / rows));
        expect(maxAbsDiff(a.f32(mean, cols), ref.subarray(0, cols))).toBeLessThan(1e-6);
        a.f64(acc, cols).fill(0);
        a.k.sumSqDevCols(xp, mean, 0, rows, cols, tmp, acc);
        expect(maxAbsDiff(Float32Array.from(a.f64(acc, cols), (s) => s / rows), ref.subarray(cols))).toBeLessThan(1e-5);
        // Σdy and Σdy·(x − mean), split over two row ranges as threads would
        a.f64(acc, cols).fill(0);
        a.f64(acc2, cols).fill(0);
        const half = Math.floor(rows / 2);
        a.k.sumsDyCols(dyp, xp, mean, 0, half, cols, tmp, acc, acc2);
        a.k.sumsDyCols(dyp, xp, mean, half, rows, cols, tmp, acc, acc2);
        const s1 = new Float64Array(cols), s2 = new Float64Array(cols);
        const m = a.f32(mean, cols);
        for (let i = 0; i < rows * cols; i++) {
          s1[i % cols] += dy[i]!;
          s2[i % cols] += dy[i]! * (x[i]! - m[i % cols]!);
        }
        expect(maxAbsDiff(a.f64(acc, cols), s1)).toBeLessThan(1e-4);
        expect(maxAbsDiff(a.f64(acc2, cols), s2)).toBeLessThan(1e-4);
        // y = x·scale + shift and dx = a·dy + b·x + k
        const sc = values(cols, 3), sh = values(cols, 4), kk = values(cols, 5);
        const scp = a.put(sc), shp = a.put(sh), kp = a.put(kk);
        const y = a.alloc(rows * cols), dx = a.alloc(rows * cols);
        a.k.affineCols(xp, y, scp, shp, 0, rows, cols);
        a.k.gradCols(dyp, xp, scp, shp, kp, dx, 0, rows, cols);
        const yRef = x.map((v, i) => v * sc[i % cols]! + sh[i % cols]!);
        const dxRef = x.map((v, i) => sc[i % cols]! * dy[i]! + sh[i % cols]! * v + kk[i % cols]!);
        expect(maxAbsDiff(a.f32(y, rows * cols), yRef)).toBeLessThan(1e-5);
        expect(maxAbsDiff(a.f32(dx, rows * cols), dxRef)).toBeLessThan(1e-5);
        // With a ReLU fused after the batch norm: y = max(x·scale + shift, 0), and dy taken only where
        // that output is positive, in both backward kernels (the mask read off the forward output).
        const yr = a.alloc(rows * cols), dxr = a.alloc(rows * cols);
        a.k.affineReluCols(xp, yr, scp, shp, 0, rows, cols);
        const yRelu = a.f32(yr, rows * cols);
        expect(Array.from(yRelu)).toEqual(Array.from(a.f32(y, rows * cols), (v) => Math.max(v, 0)));
        const live = (i: number) => yRelu[i]! > 0;
        const alive = Array.from({ length: rows * cols }, (_, i) => live(i)).filter(Boolean).length;
        expect(alive).toBeGreaterThan(rows * cols * 0.2);
        expect(alive).toBeLessThan(rows * cols * 0.8);
        a.f64(acc, cols).fill(0);
        a.f64(acc2, cols).fill(0);
        a.k.sumsDyReluCols(dyp, xp, mean, scp, shp, 0, half, cols, tmp, acc, acc2);
        a.k.sumsDyReluCols(dyp, xp, mean, scp, shp, half, rows, cols, tmp, acc, acc2);
        s1.fill(0);
        s2.fill(0);
        for (let i = 0; i < rows * cols; i++) {
          if (!live(i)) continue;
          s1[i % cols] += dy[i]!;
          s2[i % cols] += dy[i]! * (x[i]! - m[i % cols]!);
        }
        expect(maxAbsDiff(a.f64(acc, cols), s1)).toBeLessThan(1e-4);
        expect(maxAbsDiff(a.f64(acc2, cols), s2)).toBeLessThan(1e-4);
        // a, b, k of the dx pass: reuse kk and two other vectors
        const ap = a.put(values(cols, 6)), bp = a.put(values(cols, 9));
        a.k.gradReluCols(dyp, xp, scp, shp, ap, bp, kp, dxr, 0, rows, cols);
        const av = a.f32(ap, cols), bv = a.f32(bp, cols);
        const dxReluRef = x.map((v, i) => av[i % cols]! * (live(i) ? dy[i]! : 0) + bv[i % cols]! * v + kk[i % cols]!);
        expect(maxAbsDiff(a.f32(dxr, rows * cols), dxReluRef)).toBeLessThan(1e-5);
      });
    }

    // 2×2/2 'same' and 'valid' on odd sizes, 3×3/2 overlapping windows, channel tails.
    for (const [shape, size, stride, pad] of [
      [[2, 8, 8, 8], 2, 2, 'same'], [[2, 7, 9, 6], 2, 2, 'valid'], [[1, 7, 7, 5], 3, 2, 'same'], [[2, 5, 6, 4], 3, 1, 'valid'],
    ] as const) {
      it(`max-pool gradient, x ${shape} pool ${size}/${stride} ${pad}`, () => {
        const a = arena(shared);
        const n = (shape as readonly number[]).reduce((p, q) => p * q, 1);
        // ties on purpose: values rounded to a few levels, so "first maximum" is tested
        const x = Float32Array.from(values(n, 7), (v) => Math.round(v * 3));
        const info = tf.backend_util.computePool2DInfo([...shape], size, stride, 1, pad);
        const dy = values(info.batchSize * info.outHeight * info.outWidth * info.outChannels, 8);
        const ref = new Float32Array(n);
        maxPoolGradNHWC(x, dy, ref, info);
        const dx = a.alloc(n);
        a.f32(dx, n).fill(0);
        a.k.maxPoolGrad(a.put(x), a.put(dy), dx, 0, info.batchSize * info.outHeight,
          info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth,
          info.effectiveFilterHeight, info.effectiveFilterWidth, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left);
        expect(maxAbsDiff(a.f32(dx, n), ref)).toBe(0);
        expect(ref.some((v) => v !== 0)).toBe(true);
      });
    }

    for (const g of [
      { batch: 3, inH: 9, inW: 11, inC: 8, outH: 9, outW: 11, fH: 3, fW: 3, sH: 1, sW: 1, dH: 1, dW: 1, padT: 1, padL: 1 },
      { batch: 2, inH: 16, inW: 16, inC: 3, outH: 8, outW: 8, fH: 3, fW: 3, sH: 2, sW: 2, dH: 1, dW: 1, padT: 0, padL: 0 },
      { batch: 2, inH: 10, inW: 13, inC: 6, outH: 6, outW: 7, fH: 3, fW: 3, sH: 2, sW: 2, dH: 1, dW: 1, padT: 1, padL: 1 },
      { batch: 1, inH: 9, inW: 9, inC: 12, outH: 5, outW: 5, fH: 3, fW: 3, sH: 1, sW: 1, dH: 2, dW: 2, padT: 0, padL: 0 },
    ]) {
      it(`transposed im2col, x ${[g.batch, g.inH, g.inW, g.inC]} stride ${g.sH} dilation ${g.dH} pad ${g.padT}`, () => {
        const a = arena(shared);
        const x = values(g.batch * g.inH * g.inW * g.inC, 9);
        const xp = a.put(x);
        // output rows [c0, c1) of the whole batch, from inside the first image into the last
        const total = g.batch * g.outH;
        const c0 = Math.min(2, total - 1), c1 = total - (g.batch > 1 ? 1 : 0);
        const len = g.fH * g.fW * g.inC * (c1 - c0) * g.outW;
        const ref = new Float32Array(len).fill(NaN);
        im2colTLoop(x, ref, c0, c1, { ...g, outC: 1, mult: 1 });
        const ct = a.alloc(len);
        a.f32(ct, len).fill(NaN); // every element must be written, padding included
        const k: SimdKernelExports = a.k;
        const split = c0 + Math.floor((c1 - c0) / 2);
        for (const [j0, j1] of [[c0, split], [split, c1]]) {
          k.im2colT(xp, ct, c0, c1, j0, j1, g.inH, g.inW, g.inC, g.outH, g.outW, g.fH, g.fW, g.sH, g.sW, g.dH, g.dW, g.padT, g.padL);
        }
        expect(ref.every((v) => !Number.isNaN(v))).toBe(true);
        const got = a.f32(ct, len);
        expect(got.every((v) => !Number.isNaN(v))).toBe(true);
        expect(maxAbsDiff(got, ref)).toBe(0);
      });
    }
  });
}

describe('SIMD kernels on the running wasm backend', () => {
  it('load onto the backend\'s own memory unless PARTS_WASM_SIMD_KERNELS=0', async () => {
    await initBackend('wasm', () => {});
    // These test the wasm kernels themselves; the oneDNN kernels that replace them where the addon is
    // built are tested in onednn-kernels.test.ts.
    stopOnednnKernels();
    expect(simdKernelsDisabled()).toBe(process.env.PARTS_WASM_SIMD_KERNELS === '0');
    const k = simdKernels(tf.backend() as BackendWasm);
    if (simdKernelsDisabled()) {
      expect(k).toBeNull();
      return;
    }
    expect(k).not.toBeNull();
    // A tensor's pointer addresses its data in the same memory the kernels see.
    const t = tf.tensor2d([[1, 2, 3, 4], [5, 6, 7, 8]]);
    const out = tf.zerosLike(t);
    k!.affineCols(k!.ptr(t), k!.ptr(out), k!.ptr(tf.fill([4], 2)), k!.ptr(tf.fill([4], 1)), 0, 2, 4);
    expect(Array.from(await out.data())).toEqual([3, 5, 7, 9, 11, 13, 15, 17]);
  });

  it('a bad PARTS_WASM_SIMD_KERNELS value is named in the error', () => {
    const saved = process.env.PARTS_WASM_SIMD_KERNELS;
    process.env.PARTS_WASM_SIMD_KERNELS = 'yes';
    try {
      expect(() => simdKernelsDisabled()).toThrow(/PARTS_WASM_SIMD_KERNELS.*'yes'/);
    } finally {
      if (saved == null) delete process.env.PARTS_WASM_SIMD_KERNELS;
      else process.env.PARTS_WASM_SIMD_KERNELS = saved;
    }
  });
});

describe('the committed SIMD binaries', () => {
  it('are what scripts/build-simd.sh builds from assembly/kernels.ts', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parts-simd-build-'));
    try {
      execFileSync(path.join(packageDir, 'scripts', 'build-simd.sh'), [dir], { stdio: 'pipe' });
      for (const name of ['kernels-shared.wasm', 'kernels-plain.wasm']) {
        const committed = fs.readFileSync(path.join(packageDir, 'src', 'wasm-kernels', 'simd', name));
        expect(fs.readFileSync(path.join(dir, name)).equals(committed), `${name} is stale: run pnpm --filter @parts/backend build:simd`).toBe(true);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
