// The wasm backend's hot training kernels on oneDNN (the native addon, see addon.ts), in place on
// the wasm heap: convolution forward (Conv2D, FusedConv2D with bias and ReLU, and through it the
// project's PartsConvBiasRelu), both convolution gradients, the dense products (BatchMatMul,
// _FusedMatMul) and the max-pool gradient.
//
// Why: XNNPACK on wasm SIMD128 has no fused multiply-add and reaches ~64 GFLOP/s on two cores, near
// the instruction set's ceiling; oneDNN's AVX2/AVX-512 kernels run the same convolutions at
// PyTorch's speed (it is PyTorch's own CPU convolution library). Like the project's SIMD kernels,
// these read the inputs where tfjs keeps them and write into outputs allocated by tfjs' malloc: the
// addon gets the heap and byte offsets, nothing is copied.
//
// Each kernel is registered over the one in place (the built-in or the project's) and hands the
// cases it does not cover back to it: NCHW, dilated or depthwise shapes, activations other than
// linear and ReLU, non-float32 inputs, broadcasts other than a batch of 1.
import { backend_util, BatchMatMul, Conv2D, Conv2DBackpropFilter, Conv2DBackpropInput, FusedConv2D, getKernel, MaxPoolGrad, registerKernel, unregisterKernel, util, _FusedMatMul } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { OnednnAddon } from './addon';
import { envSetting } from '@parts/cli';

interface Args {
  inputs: Record<string, TensorInfo | undefined>;
  backend: BackendWasm;
  attrs: Record<string, unknown>;
}
type Kernel = (args: Args) => TensorInfo;

function heapOf(backend: BackendWasm): Uint8Array {
  return (backend as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8;
}

/** Byte offset of a float32 tensor's data on the heap (taken after every allocation of the kernel). */
function off(backend: BackendWasm, t: TensorInfo): number {
  return (backend.typedArrayFromHeap(t) as Float32Array).byteOffset;
}

const f32 = (...ts: (TensorInfo | undefined)[]): boolean => ts.every((t) => t == null || t.dtype === 'float32');
const channelsLast = (f: unknown): boolean => f == null || f === 'NHWC' || f === 'channelsLast';

/**
 * The addon's convolution geometry, or null where oneDNN's output size formula
 * ((in + padBefore + padAfter − effective filter) / stride + 1, rounded down) differs from tfjs'
 * (a 'ceil' rounding mode), or the convolution is depthwise/grouped.
 */
function convGeometry(info: backend_util.Conv2DInfo): Float64Array | null {
  const { padInfo: p } = info;
  const fits = (inS: number, kS: number, s: number, a: number, b: number, out: number) => Math.floor((inS + a + b - kS) / s) + 1 === out && a >= 0;
  if (!fits(info.inHeight, info.effectiveFilterHeight, info.strideHeight, p.top, p.bottom, info.outHeight)) return null;
  if (!fits(info.inWidth, info.effectiveFilterWidth, info.strideWidth, p.left, p.right, info.outWidth)) return null;
  return new Float64Array([
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, info.outChannels,
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
    p.top, p.left, p.bottom, p.right,
  ]);
}

function conv2dInfo(xShape: number[], filterShape: number[], attrs: Record<string, unknown>): backend_util.Conv2DInfo {
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape as [number, number, number, number],
    attrs.strides as number | [number, number], (attrs.dilations as number | [number, number] | undefined) ?? 1,
    attrs.pad as 'same' | 'valid' | number, attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined, false, 'channelsLast');
}

function convForward(addon: OnednnAddon, fallback: Kernel, fused: boolean): Kernel {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const { x, filter, bias, preluActivationWeights } = inputs;
    const activation = fused ? (attrs.activation as string | undefined) ?? 'linear' : 'linear';
    if (x == null || filter == null || x.shape.length !== 4 || filter.shape.length !== 4 || !f32(x, filter, bias) ||
      !channelsLast(attrs.dataFormat) || preluActivationWeights != null || (activation !== 'linear' && activation !== 'relu')) {
      return fallback(args);
    }
    const info = conv2dInfo(x.shape, filter.shape, attrs);
    const g = convGeometry(info);
    if (g == null || (bias != null && util.sizeFromShape(bias.shape) !== info.outChannels)) return fallback(args);
    const y = backend.makeOutput(info.outShape, 'float32');
    addon.convForward(heapOf(backend), g,
      new Float64Array([off(backend, x), off(backend, filter), bias ? off(backend, bias) : -1, off(backend, y)]), activation === 'relu');
    return y;
  };
}

function convBackwardData(addon: OnednnAddon, fallback: Kernel): Kernel {
  return (args) => {
    const { inputs: { dy, filter }, backend, attrs } = args;
    if (dy == null || filter == null || !f32(dy, filter) || !channelsLast(attrs.dataFormat)) return fallback(args);
    const inputShape = attrs.inputShape as number[];
    const g = convGeometry(conv2dInfo(inputShape, filter.shape, { ...attrs, dilations: 1 }));
    if (g == null) return fallback(args);
    const dx = backend.makeOutput(inputShape, 'float32');
    addon.convBackwardData(heapOf(backend), g, new Float64Array([off(backend, dy), off(backend, filter), off(backend, dx)]));
    return dx;
  };
}

function convBackwardWeights(addon: OnednnAddon, fallback: Kernel): Kernel {
  return (args) => {
    const { inputs: { x, dy }, backend, attrs } = args;
    if (x == null || dy == null || !f32(x, dy) || !channelsLast(attrs.dataFormat)) return fallback(args);
    const filterShape = attrs.filterShape as number[];
    const g = convGeometry(conv2dInfo(x.shape, filterShape, { ...attrs, dilations: 1 }));
    if (g == null) return fallback(args);
    const dw = backend.makeOutput(filterShape, 'float32');
    addon.convBackwardWeights(heapOf(backend), g, new Float64Array([off(backend, x), off(backend, dy), off(backend, dw)]));
    return dw;
  };
}

/** a · b over the last two axes, batches equal or one of them 1; optionally + bias[N] and ReLU. */
function matMul(addon: OnednnAddon, fallback: Kernel, fused: boolean): Kernel {
  return (args) => {
    const { inputs: { a, b, bias, preluActivationWeights }, backend, attrs } = args;
    const activation = fused ? (attrs.activation as string | undefined) ?? 'linear' : 'linear';
    if (a == null || b == null || a.shape.length < 2 || b.shape.length < 2 || !f32(a, b, bias) || preluActivationWeights != null ||
      (activation !== 'linear' && activation !== 'relu')) {
      return fallback(args);
    }
    const tA = attrs.transposeA === true, tB = attrs.transposeB === true;
    const ra = a.shape.length, rb = b.shape.length;
    const M = tA ? a.shape[ra - 1]! : a.shape[ra - 2]!, K = tA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
    const Kb = tB ? b.shape[rb - 1]! : b.shape[rb - 2]!, N = tB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
    const outerA = a.shape.slice(0, -2), outerB = b.shape.slice(0, -2);
    const bA = util.sizeFromShape(outerA), bB = util.sizeFromShape(outerB);
    const outer = bA === 1 ? (outerB.length >= outerA.length ? outerB : outerA) : bB === 1 ? (outerA.length >= outerB.length ? outerA : outerB) : util.arraysEqual(outerA, outerB) ? outerA : null;
    if (K !== Kb || outer == null || M * N * K === 0) return fallback(args);
    // A bias broadcast over the last axis only (shape [N], [1, N], ...).
    if (bias != null && (util.sizeFromShape(bias.shape) !== N || bias.shape[bias.shape.length - 1] !== N)) return fallback(args);
    const c = backend.makeOutput([...outer, M, N], 'float32');
    addon.matMul(heapOf(backend), new Float64Array([bA, bB, M, K, N, tA ? 1 : 0, tB ? 1 : 0]),
      new Float64Array([off(backend, a), off(backend, b), bias ? off(backend, bias) : -1, off(backend, c)]), activation === 'relu');
    return c;
  };
}

function maxPoolGrad(addon: OnednnAddon, fallback: Kernel): Kernel {
  return (args) => {
    const { inputs: { dy, input }, backend, attrs } = args;
    if (dy == null || input == null || input.shape.length !== 4 || !f32(dy, input)) return fallback(args);
    const info = backend_util.computePool2DInfo(input.shape as [number, number, number, number],
      attrs.filterSize as number | [number, number], attrs.strides as number | [number, number], 1,
      attrs.pad as 'same' | 'valid' | number, attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined);
    const p = info.padInfo;
    const fits = (inS: number, kS: number, s: number, lo: number, hi: number, out: number) => Math.floor((inS + lo + hi - kS) / s) + 1 === out;
    // oneDNN wants the last window to start inside the input or its leading padding.
    if (!fits(info.inHeight, info.filterHeight, info.strideHeight, p.top, p.bottom, info.outHeight) ||
      !fits(info.inWidth, info.filterWidth, info.strideWidth, p.left, p.right, info.outWidth) ||
      p.bottom >= info.filterHeight || p.right >= info.filterWidth) {
      return fallback(args);
    }
    const dx = backend.makeOutput(input.shape, 'float32');
    addon.maxPoolGrad(heapOf(backend), new Float64Array([
      info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth,
      info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, p.top, p.left, p.bottom, p.right,
    ]), new Float64Array([off(backend, input), off(backend, dy), off(backend, dx)]));
    return dx;
  };
}

type Factory = (addon: OnednnAddon, fallback: Kernel) => Kernel;

/** The kernels oneDNN takes over, each with the kernel it hands unsupported cases back to. */
export const ONEDNN_KERNELS: readonly [string, Factory][] = [
  [Conv2D, (a, f) => convForward(a, f, false)],
  [FusedConv2D, (a, f) => convForward(a, f, true)],
  [Conv2DBackpropInput, convBackwardData],
  [Conv2DBackpropFilter, convBackwardWeights],
  [BatchMatMul, (a, f) => matMul(a, f, false)],
  [_FusedMatMul, (a, f) => matMul(a, f, true)],
  [MaxPoolGrad, maxPoolGrad],
];

/**
 * Whether 3×3 stride-1 convolutions with channels in multiples of 16 run as Winograd F(4,3) (where
 * oneDNN has it: AVX-512). On by default: PartsNet's training step took 0.75-0.91× the time it takes
 * with direct convolutions on the 2-core AVX-512 machine (README); results differ by float rounding.
 */
export function winogradOn(): boolean {
  return envSetting('PARTS_ONEDNN_WINOGRAD') !== false;
}

/** The wasm kernels in place before oneDNN's, by name (restored by unregisterOnednnKernels). */
const replaced = new Map<string, KernelConfig>();

/**
 * Registers the oneDNN kernels over the wasm backend's current ones (call after the project's own
 * wasm kernels are registered); the OpenMP thread count is set to `threads`. Safe to call again.
 * Returns the names registered now.
 */
export function registerOnednnKernels(addon: OnednnAddon, threads: number): string[] {
  addon.setThreads(threads);
  addon.setWinograd?.(winogradOn());
  const added: string[] = [];
  for (const [name, make] of ONEDNN_KERNELS) {
    if (replaced.has(name)) continue;
    const current = getKernel(name, 'wasm');
    if (current == null) continue;
    const fallback = current.kernelFunc as unknown as Kernel;
    unregisterKernel(name, 'wasm');
    registerKernel({ ...current, kernelFunc: make(addon, fallback) as unknown as KernelFunc });
    replaced.set(name, current);
    added.push(name);
  }
  return added;
}

/** Puts the kernels that oneDNN's replaced back (tests and benchmarks compare the two). */
export function unregisterOnednnKernels(): void {
  for (const [name, config] of replaced) {
    unregisterKernel(name, 'wasm');
    registerKernel(config);
  }
  replaced.clear();
}

/** The kernels registered over the wasm backend's now, in ONEDNN_KERNELS' order. */
export function registeredOnednnKernels(): string[] {
  return ONEDNN_KERNELS.map(([name]) => name).filter((name) => replaced.has(name));
}

/** Whether the oneDNN kernels are registered on the wasm backend now. */
export function onednnKernelsRegistered(): boolean {
  return replaced.size > 0;
}
