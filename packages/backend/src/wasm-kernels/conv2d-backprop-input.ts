import { backend_util, Conv2D, Conv2DBackpropInput, getKernel } from '@tensorflow/tfjs-core';
import type { Conv2DBackpropInputAttrs, Conv2DBackpropInputInputs, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { assertChannelsLast, f32View, validOutRange, zeroedOutput, need } from './heap';
import { type ConvGeometry, geometryFrom } from './conv2d-geometry';
import { envSetting } from '@parts/cli';
import { runBuiltinKernel } from './builtins';

/**
 * dx[n,ih,iw,ci] = Σ_{fh,fw,co} dy[n,oh,ow,co] · W[fh,fw,ci,co] with ih = oh·sH−padT+fh·dH, NHWC.
 *
 * Scatter form: every (output pixel, filter tap) adds W[fh,fw] (inC×outC, contiguous, L1-resident)
 * times the dy vector of that pixel into one dx pixel. Four ci rows are dotted with dy at once in
 * local accumulators: 5 loads per 4 multiply-adds. `dx` must be zeroed by the caller.
 */
export function conv2dInputGradNHWC(dy: Float32Array, w: Float32Array, dx: Float32Array, g: ConvGeometry): void {
  const { batch, inH, inW, inC, outH, outW, outC, fH, fW, sH, sW, dH, dW, padT, padL } = g;
  const ci4 = inC - (inC % 4);
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outH; oh++) {
      const dyRow = (n * outH + oh) * outW * outC;
      for (let fh = 0; fh < fH; fh++) {
        const ih = oh * sH - padT + fh * dH;
        if (ih < 0 || ih >= inH) continue;
        const dxRow = (n * inH + ih) * inW * inC;
        for (let fw = 0; fw < fW; fw++) {
          const off = fw * dW - padL;
          const [owStart, owEnd] = validOutRange(off, sW, inW, outW);
          const wBase = (fh * fW + fw) * inC * outC;
          for (let ow = owStart; ow < owEnd; ow++) {
            const di = dyRow + ow * outC;
            const xi = dxRow + (ow * sW + off) * inC;
            let ci = 0;
            for (; ci < ci4; ci += 4) {
              const w0 = wBase + ci * outC, w1 = w0 + outC, w2 = w1 + outC, w3 = w2 + outC;
              let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
              for (let co = 0; co < outC; co++) {
                const d = dy[di + co];
                a0 += w[w0 + co] * d; a1 += w[w1 + co] * d; a2 += w[w2 + co] * d; a3 += w[w3 + co] * d;
              }
              dx[xi + ci] += a0; dx[xi + ci + 1] += a1; dx[xi + ci + 2] += a2; dx[xi + ci + 3] += a3;
            }
            for (; ci < inC; ci++) {
              const w0 = wBase + ci * outC;
              let a = 0;
              for (let co = 0; co < outC; co++) a += w[w0 + co] * dy[di + co];
              dx[xi + ci] += a;
            }
          }
        }
      }
    }
  }
}

/** Upper bound for one batch chunk's dilated copy of dy (keeps the transient memory small). */
const CHUNK_BYTES = 32 * 1024 * 1024;

/** One spatial axis of the transposed convolution: which part of the dilated dy is read, and the zero padding around it. */
interface AxisPlan {
  /** First and one-past-last index of the dilated dy ((out−1)·s+1 long) that the convolution reads. */
  lo: number; hi: number;
  /** Zero padding before and after that range, both ≥ 0. */
  padBefore: number; padAfter: number;
}

/**
 * dx[i] = Σ_f dyDilated[i + padT − f]·W[f] = Σ_k P[i + k]·W[K−1−k] with P = dyDilated shifted by
 * K−1−padT: a stride-1 'valid' convolution of P with the flipped filter, output length `inSize`.
 * A negative pad (explicit padding larger than K−1) becomes a crop of dyDilated instead.
 */
function axisPlan(inSize: number, outSize: number, k: number, stride: number, padBefore: number): AxisPlan {
  const dilated = (outSize - 1) * stride + 1;
  const before = k - 1 - padBefore;
  const after = inSize + k - 1 - before - dilated;
  return { lo: Math.max(0, -before), hi: dilated - Math.max(0, -after), padBefore: Math.max(0, before), padAfter: Math.max(0, after) };
}

/**
 * Same result as `conv2dInputGradNHWC`, computed by the wasm backend's own SIMD (XNNPACK) Conv2D:
 * dx = conv2d(pad(dilate(dy, stride)), W') with W'[kh,kw,co,ci] = W[K−1−kh, K−1−kw, ci, co],
 * stride 1, explicit padding. For stride 1 and non-negative padding dy is used as is (no copy);
 * otherwise the dilated/cropped dy is built in TypeScript, batch chunk by batch chunk.
 * Returns a new tensor of shape `g`'s input shape; the caller owns it.
 */
export function conv2dInputGradXnnpack(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry): TensorInfo {
  const conv = getKernel(Conv2D, 'wasm');
  if (conv == null) throw new Error('Conv2DBackpropInput (wasm training kernel): the wasm Conv2D kernel is not registered');
  const name = Conv2DBackpropInput;
  const { batch, inH, inW, inC, outH, outW, outC, fH, fW, sH, sW, dH, dW, padT, padL } = g;
  if (dH !== 1 || dW !== 1) throw new Error(`${name} (wasm training kernel): dilations must be 1, got [${dH}, ${dW}]`);
  const rows = axisPlan(inH, outH, fH, sH, padT);
  const cols = axisPlan(inW, outW, fW, sW, padL);
  const bH = rows.hi - rows.lo, bW = cols.hi - cols.lo;
  if (bH <= 0 || bW <= 0) return zeroedOutput(backend, [batch, inH, inW, inC]); // no dy value reaches dx

  const wT = backend.makeOutput([fH, fW, outC, inC], 'float32');
  {
    const w = f32View(backend, filter, name, 'filter');
    const wt = f32View(backend, wT, name, 'flipped filter');
    for (let kh = 0; kh < fH; kh++) {
      for (let kw = 0; kw < fW; kw++) {
        const src = ((fH - 1 - kh) * fW + (fW - 1 - kw)) * inC * outC;
        const dst = (kh * fW + kw) * outC * inC;
        for (let c = 0; c < inC; c++) {
          for (let o = 0; o < outC; o++) wt[dst + o * inC + c] = w[src + c * outC + o];
        }
      }
    }
  }
  const attrs = {
    strides: 1, dataFormat: 'NHWC', dilations: 1,
    pad: [[0, 0], [rows.padBefore, rows.padAfter], [cols.padBefore, cols.padAfter], [0, 0]],
  };
  const direct = sH === 1 && sW === 1 && rows.lo === 0 && cols.lo === 0 && bH === outH && bW === outW;
  if (direct) {
    const o = conv.kernelFunc({ inputs: { x: dy, filter: wT }, backend, attrs }) as TensorInfo;
    backend.disposeData(wT.dataId);
    return o;
  }

  const perImage = bH * bW * outC * 4;
  const chunk = Math.max(1, Math.min(batch, Math.floor(CHUNK_BYTES / perImage)));
  const out = chunk < batch ? backend.makeOutput([batch, inH, inW, inC], 'float32') : null;
  // dy rows/columns oh with lo ≤ oh·s < hi land at buffer row oh·s − lo; the zeros between them are the dilation.
  const ohLo = Math.ceil(rows.lo / sH), ohHi = Math.min(outH, Math.ceil(rows.hi / sH));
  const owLo = Math.ceil(cols.lo / sW), owHi = Math.min(outW, Math.ceil(cols.hi / sW));
  for (let n0 = 0; n0 < batch; n0 += chunk) {
    const nc = Math.min(chunk, batch - n0);
    const buf = backend.makeOutput([nc, bH, bW, outC], 'float32');
    {
      const dys = f32View(backend, dy, name, 'dy');
      const bd = f32View(backend, buf, name, 'dilated dy');
      if (sH !== 1 || sW !== 1) bd.fill(0);
      for (let n = 0; n < nc; n++) {
        for (let oh = ohLo; oh < ohHi; oh++) {
          const srcRow = (((n0 + n) * outH + oh) * outW) * outC;
          const dstRow = ((n * bH + oh * sH - rows.lo) * bW) * outC;
          if (sW === 1) {
            copyRun(bd, dys, dstRow + (owLo - cols.lo) * outC, srcRow + owLo * outC, (owHi - owLo) * outC);
          } else {
            for (let ow = owLo; ow < owHi; ow++) {
              copyRun(bd, dys, dstRow + (ow * sW - cols.lo) * outC, srcRow + ow * outC, outC);
            }
          }
        }
      }
    }
    const o = conv.kernelFunc({ inputs: { x: buf, filter: wT }, backend, attrs }) as TensorInfo;
    backend.disposeData(buf.dataId);
    if (out == null) {
      backend.disposeData(wT.dataId);
      return o;
    }
    const os = f32View(backend, o, name, 'chunk result');
    f32View(backend, out, name, 'dx').set(os, n0 * inH * inW * inC);
    backend.disposeData(o.dataId);
  }
  backend.disposeData(wT.dataId);
  return out!;
}

/** Copies `len` floats from src[s…] to dst[d…]. */
function copyRun(dst: Float32Array, src: Float32Array, d: number, s: number, len: number): void {
  dst.set(src.subarray(s, s + len), d);
}

/**
 * Which implementation the kernel uses: XNNPACK (default), the TypeScript loop (reference), or the
 * wasm backend's built-in kernel (kept for speed comparisons, in builtins.ts).
 */
export type InputGradImpl = 'xnnpack' | 'loop' | 'builtin';
let inputGradImpl: InputGradImpl = envSetting('PARTS_WASM_INPUT_GRAD') ?? 'xnnpack';
export function setConv2dInputGradImpl(impl: InputGradImpl): void {
  inputGradImpl = impl;
}

function conv2DBackpropInput(args: { inputs: Conv2DBackpropInputInputs; backend: BackendWasm; attrs: Conv2DBackpropInputAttrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const dy = need(inputs.dy, Conv2DBackpropInput, 'dy');
  const filter = need(inputs.filter, Conv2DBackpropInput, 'filter');
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs;
  assertChannelsLast(Conv2DBackpropInput, dataFormat);
  if (inputGradImpl === 'builtin') return runBuiltinKernel(Conv2DBackpropInput, args);
  const info = backend_util.computeConv2DInfo(
    inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const g = geometryFrom(info);
  if (dy.shape.length !== 4 || dy.shape[0] !== g.batch || dy.shape[1] !== g.outH || dy.shape[2] !== g.outW || dy.shape[3] !== g.outC) {
    throw new Error(`${Conv2DBackpropInput} (wasm training kernel): dy shape [${dy.shape}] does not match the convolution output [${[g.batch, g.outH, g.outW, g.outC]}]`);
  }
  if (inputGradImpl === 'xnnpack') return conv2dInputGradXnnpack(backend, dy, filter, g);
  const out = zeroedOutput(backend, [...inputShape]);
  conv2dInputGradNHWC(
    f32View(backend, dy, Conv2DBackpropInput, 'dy'), f32View(backend, filter, Conv2DBackpropInput, 'filter'),
    f32View(backend, out, Conv2DBackpropInput, 'dx'), g);
  return out;
}

export const conv2DBackpropInputConfig: KernelConfig = {
  kernelName: Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInput as unknown as KernelFunc,
};
