// Loads this project's SIMD kernels (assembly/kernels.ts, compiled to kernels-{shared,plain}.wasm)
// onto the memory of the running tfjs wasm backend, so they work on its tensors in place.
//
// The module imports tfjs' own WebAssembly.Memory: the shared one of the threaded build or the
// plain one of the single-threaded build, each with its own binary (a memory import states whether
// it is shared). Scratch space comes from tfjs' malloc. Where the runtime lacks wasm SIMD, or
// PARTS_WASM_SIMD_KERNELS=0 asks for it, `simdKernels()` returns null and the callers keep their
// JavaScript loops (the reference the tests compare against).
import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { f32View } from '../heap';
import { envSetting } from '@parts/cli';

/** The exports of assembly/kernels.ts; every pointer is a byte offset into tfjs' heap. */
export interface SimdKernelExports {
  sumCols(x: number, r0: number, r1: number, cols: number, tmp: number, acc: number): void;
  sumSqDevCols(x: number, mean: number, r0: number, r1: number, cols: number, tmp: number, acc: number): void;
  sumsDyCols(dy: number, x: number, mean: number, r0: number, r1: number, cols: number, tmp: number, acc1: number, acc2: number): void;
  affineCols(x: number, y: number, scale: number, shift: number, r0: number, r1: number, cols: number): void;
  gradCols(dy: number, x: number, a: number, b: number, k: number, out: number, r0: number, r1: number, cols: number): void;
  /** The three above with a ReLU fused after the batch norm (the mask recomputed from x·scale + shift). */
  affineReluCols(x: number, y: number, scale: number, shift: number, r0: number, r1: number, cols: number): void;
  sumsDyReluCols(dy: number, x: number, mean: number, scale: number, shift: number, r0: number, r1: number, cols: number, tmp: number, acc1: number, acc2: number): void;
  gradReluCols(dy: number, x: number, scale: number, shift: number, a: number, b: number, k: number, out: number, r0: number, r1: number, cols: number): void;
  maxPoolGrad(
    x: number, dy: number, dx: number, q0: number, q1: number,
    H: number, W: number, C: number, Ho: number, Wo: number, eH: number, eW: number, sH: number, sW: number, padT: number, padL: number,
  ): void;
  im2colT(
    x: number, colsT: number, c0: number, c1: number, j0: number, j1: number,
    inH: number, inW: number, inC: number, outH: number, outW: number, fH: number, fW: number,
    sH: number, sW: number, dH: number, dW: number, padT: number, padL: number,
  ): void;
  relu(x: number, out: number, i0: number, i1: number): void;
  reluGrad(dy: number, y: number, out: number, i0: number, i1: number): void;
  adamMoments(mv: number, g: number, out: number, n: number, i0: number, i1: number, b1: number, oneMinusB1: number, b2: number, oneMinusB2: number): void;
  adamApply(x: number, mv: number, out: number, n: number, i0: number, i1: number, c1: number, c2: number, eps: number, negLr: number): void;
  transpose(src: number, dst: number, b0: number, b1: number, rows: number, cols: number): void;
  matMulAT(aT: number, b: number, out: number, M: number, K: number, N: number, m0: number, m1: number): void;
  matMulBT(a: number, bT: number, out: number, M: number, K: number, N: number, n0: number, n1: number): void;
}

/** The parts of the WebAssembly API used here (the project's TypeScript lib has no WebAssembly types). */
export interface WasmMemory {
  buffer: ArrayBuffer | SharedArrayBuffer;
}
const WasmApi = (globalThis as unknown as {
  WebAssembly: {
    Module: new (bytes: Uint8Array) => object;
    Instance: new (module: object, imports: object) => { exports: unknown };
  };
}).WebAssembly;

interface EmscriptenHeap {
  HEAPU8: Uint8Array;
  wasmMemory?: WasmMemory;
  asm?: { memory?: WasmMemory };
  _malloc(bytes: number): number;
  _free(ptr: number): void;
}

/** The kernels bound to one backend's memory, with its allocator. */
export interface SimdKernels extends SimdKernelExports {
  /** Byte offset of a tensor's data on the heap. */
  ptr(t: TensorInfo): number;
  /** Runs `body` with `bytes` of scratch (16-byte aligned, uninitialised), freed afterwards. */
  withScratch<T>(bytes: number, body: (ptr: number) => T): T;
  /** A Float32Array / Float64Array view of heap bytes (taken after any allocation). */
  f32(ptr: number, length: number): Float32Array;
  f64(ptr: number, length: number): Float64Array;
}

const cache = new WeakMap<object, SimdKernels | null>();

function heapOf(backend: BackendWasm): EmscriptenHeap {
  return (backend as unknown as { wasm: EmscriptenHeap }).wasm;
}

function memoryOf(heap: EmscriptenHeap): WasmMemory | null {
  for (const m of [heap.wasmMemory, heap.asm?.memory]) if (m != null && m.buffer === heap.HEAPU8.buffer) return m;
  return null;
}

/** The compiled kernels for a memory: the shared-memory binary for a shared memory, else the plain one. */
export function simdKernelsFile(memory: WasmMemory): URL {
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  return new URL(`./kernels-${shared ? 'shared' : 'plain'}.wasm`, import.meta.url);
}

/** Instantiates the kernels on `memory` (any WebAssembly.Memory; tests use their own). */
export function instantiateSimdKernels(memory: WasmMemory): SimdKernelExports {
  const module = new WasmApi.Module(fs.readFileSync(simdKernelsFile(memory)));
  return new WasmApi.Instance(module, { env: { memory } }).exports as SimdKernelExports;
}

/** Whether the kernels are switched off (PARTS_WASM_SIMD_KERNELS=0). */
export function simdKernelsDisabled(): boolean {
  return envSetting('PARTS_WASM_SIMD_KERNELS') === false;
}

/** The SIMD kernels on this backend's memory, or null (see the module comment). */
export function simdKernels(backend: BackendWasm): SimdKernels | null {
  const heap = heapOf(backend);
  if (cache.has(heap)) return cache.get(heap)!;
  let kernels: SimdKernels | null = null;
  const memory = simdKernelsDisabled() ? null : memoryOf(heap);
  if (memory != null) {
    try {
      kernels = bind(instantiateSimdKernels(memory), heap, backend);
    } catch {
      // No wasm SIMD in this runtime (or no binary): the callers keep their JavaScript loops.
    }
  }
  cache.set(heap, kernels);
  return kernels;
}

function bind(exports: SimdKernelExports, heap: EmscriptenHeap, backend: BackendWasm): SimdKernels {
  return {
    ...exports,
    ptr(t) {
      return f32View(backend, t, 'wasm SIMD kernels', 'tensor').byteOffset;
    },
    withScratch(bytes, body) {
      const p = heap._malloc(bytes + 16);
      if (p === 0) throw new Error(`wasm SIMD kernels: could not allocate ${bytes} bytes of scratch`);
      try {
        return body((p + 15) & ~15);
      } finally {
        heap._free(p);
      }
    },
    f32(ptr, length) {
      return new Float32Array(heap.HEAPU8.buffer, ptr, length);
    },
    f64(ptr, length) {
      if (ptr % 8 !== 0) throw new Error(`wasm SIMD kernels: float64 view at unaligned offset ${ptr}`);
      return new Float64Array(heap.HEAPU8.buffer, ptr, length);
    },
  };
}

/** Bytes of `n` float32 values rounded up to 16: scratch arrays laid out with it stay SIMD- and float64-aligned. */
export function f32Bytes(n: number): number {
  return Math.ceil(n / 4) * 16;
}

/** True when the current backend is wasm and the SIMD kernels run on it (the fused training ops need them). */
export function wasmSimdKernelsActive(): boolean {
  return tf.getBackend() === 'wasm' && simdKernels(tf.backend() as BackendWasm) != null;
}
