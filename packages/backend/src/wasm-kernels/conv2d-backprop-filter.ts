import { backend_util, BatchMatMul, Conv2D, Conv2DBackpropFilter, getKernel } from '@tensorflow/tfjs-core';
import type { Conv2DBackpropFilterAttrs, Conv2DBackpropFilterInputs, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { assertChannelsLast, f32View, validOutRange, zeroedOutput, need } from './heap';
import { type ConvGeometry, geometryFrom } from './conv2d-geometry';
import { simdKernels } from './simd';
import { envSetting } from '@parts/cli';

/** Output columns processed per sweep: keeps the x and dy rows of one sweep in L1. */
const OW_TILE = 64;

/**
 * dW[fh,fw,ci,co] += Σ_{n,oh,ow} x[n, oh·sH−padT+fh·dH, ow·sW−padL+fw·dW, ci] · dy[n,oh,ow,co], NHWC.
 *
 * No im2col: for one (n, oh, fh, fw) the contributing x pixels form a strided run of one input row,
 * so a 2(ci)×4(co) block of dW is accumulated in 8 locals (registers) over a tile of output
 * columns and added to dW once per tile. That is 6 loads per 8 multiply-adds, against 3 memory
 * operations per multiply-add for the plain outer-product loop. `dw` must be zeroed by the caller.
 */
export function conv2dFilterGradNHWC(x: Float32Array, dy: Float32Array, dw: Float32Array, g: ConvGeometry): void {
  const { batch, inH, inW, inC, outH, outW, outC, fH, fW, sH, sW, dH, dW, padT, padL } = g;
  const ci2 = inC - (inC % 2);
  const co4 = outC - (outC % 4);
  const xStep = sW * inC;
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outH; oh++) {
      const dyRow = (n * outH + oh) * outW * outC;
      for (let fh = 0; fh < fH; fh++) {
        const ih = oh * sH - padT + fh * dH;
        if (ih < 0 || ih >= inH) continue;
        const xRow = (n * inH + ih) * inW * inC;
        for (let fw = 0; fw < fW; fw++) {
          const off = fw * dW - padL;
          const [owStart, owEnd] = validOutRange(off, sW, inW, outW);
          const wBase = (fh * fW + fw) * inC * outC;
          for (let t0 = owStart; t0 < owEnd; t0 += OW_TILE) {
            const t1 = Math.min(owEnd, t0 + OW_TILE);
            const xT = xRow + (t0 * sW + off) * inC;
            const dyT = dyRow + t0 * outC;
            let ci = 0;
            for (; ci < ci2; ci += 2) {
              const wRow0 = wBase + ci * outC;
              const wRow1 = wRow0 + outC;
              let co = 0;
              for (; co < co4; co += 4) {
                let a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
                let xi = xT + ci;
                let di = dyT + co;
                for (let ow = t0; ow < t1; ow++) {
                  const xa = x[xi], xb = x[xi + 1];
                  const d0 = dy[di], d1 = dy[di + 1], d2 = dy[di + 2], d3 = dy[di + 3];
                  a0 += xa * d0; a1 += xa * d1; a2 += xa * d2; a3 += xa * d3;
                  b0 += xb * d0; b1 += xb * d1; b2 += xb * d2; b3 += xb * d3;
                  xi += xStep;
                  di += outC;
                }
                dw[wRow0 + co] += a0; dw[wRow0 + co + 1] += a1; dw[wRow0 + co + 2] += a2; dw[wRow0 + co + 3] += a3;
                dw[wRow1 + co] += b0; dw[wRow1 + co + 1] += b1; dw[wRow1 + co + 2] += b2; dw[wRow1 + co + 3] += b3;
              }
              for (; co < outC; co++) {
                let a = 0, b = 0;
                let xi = xT + ci;
                let di = dyT + co;
                for (let ow = t0; ow < t1; ow++) {
                  const d = dy[di];
                  a += x[xi] * d;
                  b += x[xi + 1] * d;
                  xi += xStep;
                  di += outC;
                }
                dw[wRow0 + co] += a;
                dw[wRow1 + co] += b;
              }
            }
            for (; ci < inC; ci++) {
              const wRow = wBase + ci * outC;
              let co = 0;
              for (; co < co4; co += 4) {
                let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                let xi = xT + ci;
                let di = dyT + co;
                for (let ow = t0; ow < t1; ow++) {
                  const xa = x[xi];
                  a0 += xa * dy[di]; a1 += xa * dy[di + 1]; a2 += xa * dy[di + 2]; a3 += xa * dy[di + 3];
                  xi += xStep;
                  di += outC;
                }
                dw[wRow + co] += a0; dw[wRow + co + 1] += a1; dw[wRow + co + 2] += a2; dw[wRow + co + 3] += a3;
              }
              for (; co < outC; co++) {
                let a = 0;
                let xi = xT + ci;
                let di = dyT + co;
                for (let ow = t0; ow < t1; ow++) {
                  a += x[xi] * dy[di];
                  xi += xStep;
                  di += outC;
                }
                dw[wRow + co] += a;
              }
            }
          }
        }
      }
    }
  }
}

/** Upper bound for one batch chunk's re-laid-out x and dy copies (keeps the transient memory small). */
const CHUNK_BYTES = 32 * 1024 * 1024;

/**
 * Same result as `conv2dFilterGradNHWC`, computed by the wasm backend's own SIMD (XNNPACK) Conv2D:
 * with batch and channels swapped, the filter gradient is a forward convolution of
 * x' = x laid out [inC, H+pads, W+pads, n] with "filter" dy' = dy laid out [outH, outW, n, outC],
 * dilated by the forward stride: out[ci,fh,fw,co] = Σ x'[ci, fh+oh·sH, fw+ow·sW, n]·dy'[oh,ow,n,co].
 * The re-layout is one pass in TypeScript; the batch is processed in chunks so the copies stay
 * bounded, and the chunk results are summed into dW.
 */
export function conv2dFilterGradXnnpack(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, out: TensorInfo, g: ConvGeometry): void {
  const conv = getKernel(Conv2D, 'wasm');
  if (conv == null) throw new Error('Conv2DBackpropFilter (wasm training kernel): the wasm Conv2D kernel is not registered');
  const { batch, inH, inW, inC, outH, outW, outC, fH, fW, sH, sW, padT, padL } = g;
  const pH = (outH - 1) * sH + fH; // padded (or cropped) input extent the convolution reads
  const pW = (outW - 1) * sW + fW;
  const perImage = (inC * pH * pW + outH * outW * outC) * 4;
  const chunk = Math.max(1, Math.min(batch, Math.floor(CHUNK_BYTES / perImage)));
  const name = Conv2DBackpropFilter;
  for (let n0 = 0; n0 < batch; n0 += chunk) {
    const nc = Math.min(chunk, batch - n0);
    const xc = backend.makeOutput([inC, pH, pW, nc], 'float32');
    const dc = backend.makeOutput([outH, outW, nc, outC], 'float32');
    {
      const xs = f32View(backend, x, name, 'x');
      const dys = f32View(backend, dy, name, 'dy');
      const xd = f32View(backend, xc, name, 'x chunk');
      const dd = f32View(backend, dc, name, 'dy chunk');
      xd.fill(0);
      const hLo = Math.max(0, padT), hHi = Math.min(pH, inH + padT); // rows of x' that hold x
      const wLo = Math.max(0, padL), wHi = Math.min(pW, inW + padL);
      const cStride = pH * pW * nc;
      for (let n = 0; n < nc; n++) {
        for (let hp = hLo; hp < hHi; hp++) {
          const xRow = ((n0 + n) * inH + hp - padT) * inW * inC;
          for (let wp = wLo; wp < wHi; wp++) {
            const src = xRow + (wp - padL) * inC;
            let dst = (hp * pW + wp) * nc + n;
            for (let c = 0; c < inC; c++, dst += cStride) xd[dst] = xs[src + c];
          }
        }
      }
      for (let n = 0; n < nc; n++) {
        for (let p = 0; p < outH * outW; p++) {
          const src = ((n0 + n) * outH * outW + p) * outC;
          dd.set(dys.subarray(src, src + outC), (p * nc + n) * outC);
        }
      }
    }
    const o = conv.kernelFunc({
      inputs: { x: xc, filter: dc }, backend,
      attrs: { strides: 1, pad: 'valid', dataFormat: 'NHWC', dilations: [sH, sW] },
    }) as TensorInfo;
    const os = f32View(backend, o, name, 'chunk result'); // [inC, fH, fW, outC]
    const dw = f32View(backend, out, name, 'dw'); // [fH, fW, inC, outC]
    for (let c = 0; c < inC; c++) {
      for (let t = 0; t < fH * fW; t++) {
        const src = (c * fH * fW + t) * outC;
        const dst = (t * inC + c) * outC;
        for (let k = 0; k < outC; k++) dw[dst + k] += os[src + k];
      }
    }
    backend.disposeData(xc.dataId);
    backend.disposeData(dc.dataId);
    backend.disposeData(o.dataId);
  }
}

/**
 * Bytes of one filter-gradient GEMM chunk (its im2col and dy rows): small enough to stay in a
 * last-level cache between being written and being read by the product. Tiny VGG's second layer
 * at 256 px needs 116 MB per image for the whole im2col; in chunks of output rows it never leaves
 * the cache.
 */
const GEMM_CHUNK_BYTES = 8 * 1024 * 1024;

/**
 * Same result as `conv2dFilterGradNHWC`, as one matrix product per chunk of output rows on the wasm
 * backend's XNNPACK GEMM (BatchMatMul, no transposes: the fast path):
 *   dW [fH·fW·inC, outC] = Σ_chunks colsT [fH·fW·inC, P] × dy [P, outC],  P = the chunk's output pixels,
 * where colsT is the transposed im2col of x (row (fh·fW+fw)·inC+ci, column p = the input pixel that
 * tap reads for output pixel p, 0 in the padding). Its rows are in dW's own order, so each product
 * is added to dW as it is. A chunk is a run of output rows (n, oh) of the whole batch.
 */
export function conv2dFilterGradGemm(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, out: TensorInfo, g: ConvGeometry): void {
  const matMul = getKernel(BatchMatMul, 'wasm');
  if (matMul == null) throw new Error('Conv2DBackpropFilter (wasm training kernel): the wasm BatchMatMul kernel is not registered');
  const { batch, inH, inW, inC, outH, outW, outC, fH, fW, sH, sW, dH, dW: dWd, padT, padL } = g;
  const name = Conv2DBackpropFilter;
  const rows = fH * fW * inC;
  const totalRows = batch * outH; // output rows j = n·outH + oh
  const perRow = (rows + outC) * outW * 4;
  const chunk = Math.max(1, Math.min(totalRows, Math.floor(GEMM_CHUNK_BYTES / perRow)));
  const simd = simdKernels(backend);
  for (let c0 = 0; c0 < totalRows; c0 += chunk) {
    const c1 = Math.min(totalRows, c0 + chunk);
    const P = (c1 - c0) * outW;
    const colsT = backend.makeOutput([1, rows, P], 'float32');
    const whole = c0 === 0 && c1 === totalRows;
    const dyc = whole ? null : backend.makeOutput([1, P, outC], 'float32');
    if (dyc) {
      const d = f32View(backend, dy, name, 'dy');
      f32View(backend, dyc, name, 'dy chunk').set(d.subarray(c0 * outW * outC, c1 * outW * outC));
    }
    if (simd) {
      simd.im2colT(simd.ptr(x), simd.ptr(colsT), c0, c1, c0, c1,
        inH, inW, inC, outH, outW, fH, fW, sH, sW, dH, dWd, padT, padL);
    } else {
      im2colTLoop(f32View(backend, x, name, 'x'), f32View(backend, colsT, name, 'im2col'), c0, c1, g);
    }
    const prod = matMul.kernelFunc({
      inputs: { a: colsT, b: dyc ?? { ...dy, shape: [1, P, outC] } }, backend,
      attrs: { transposeA: false, transposeB: false },
    }) as TensorInfo;
    const ps = f32View(backend, prod, name, 'chunk result'); // [1, rows, outC] = dW's layout
    const dw = f32View(backend, out, name, 'dw');
    if (c0 === 0) dw.set(ps);
    else for (let i = 0; i < ps.length; i++) dw[i] += ps[i]!;
    backend.disposeData(colsT.dataId);
    if (dyc) backend.disposeData(dyc.dataId);
    backend.disposeData(prod.dataId);
  }
}

/**
 * colsT[(tap·inC + ci)·P + (j − c0)·outW + ow] = x[n, ih, iw, ci] for the output rows j = n·outH + oh
 * in [c0, c1), P = (c1 − c0)·outW (0 in the padding): the plain-loop reference of the SIMD kernel
 * `im2colT` (assembly/kernels.ts).
 */
export function im2colTLoop(xs: Float32Array, ct: Float32Array, c0: number, c1: number, g: ConvGeometry): void {
  const { inH, inW, inC, outH, outW, fH, fW, sH, sW, dH, dW: dWd, padT, padL } = g;
  const P = (c1 - c0) * outW;
  for (let fh = 0; fh < fH; fh++) {
    for (let fw = 0; fw < fW; fw++) {
      const tapRow = (fh * fW + fw) * inC;
      const off = fw * dWd - padL;
      const [owStart, owEnd] = validOutRange(off, sW, inW, outW);
      for (let j = c0; j < c1; j++) {
        const n = Math.floor(j / outH), oh = j % outH;
        const p0 = (j - c0) * outW; // column of (n, oh, ow = 0)
        const ih = oh * sH - padT + fh * dH;
        if (ih < 0 || ih >= inH) {
          for (let c = 0; c < inC; c++) ct.fill(0, (tapRow + c) * P + p0, (tapRow + c) * P + p0 + outW);
          continue;
        }
        const xRow = (n * inH + ih) * inW * inC;
        for (let c = 0; c < inC; c++) {
          const dst = (tapRow + c) * P + p0;
          if (owStart > 0) ct.fill(0, dst, dst + owStart);
          if (owEnd < outW) ct.fill(0, dst + owEnd, dst + outW);
          let xi = xRow + (owStart * sW + off) * inC + c;
          const xStep = sW * inC;
          for (let ow = owStart; ow < owEnd; ow++, xi += xStep) ct[dst + ow] = xs[xi]!;
        }
      }
    }
  }
}

/** Which implementation the kernel uses; the loop is kept as a reference and for memory-tight cases. */
export type FilterGradImpl = 'gemm' | 'xnnpack' | 'loop';
let filterGradImpl: FilterGradImpl = envSetting('PARTS_WASM_FILTER_GRAD') ?? 'gemm';
export function setConv2dFilterGradImpl(impl: FilterGradImpl): void {
  filterGradImpl = impl;
}

function conv2DBackpropFilter(args: { inputs: Conv2DBackpropFilterInputs; backend: BackendWasm; attrs: Conv2DBackpropFilterAttrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const x = need(inputs.x, Conv2DBackpropFilter, 'x');
  const dy = need(inputs.dy, Conv2DBackpropFilter, 'dy');
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
  assertChannelsLast(Conv2DBackpropFilter, dataFormat);
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const out = zeroedOutput(backend, filterShape);
  const g = geometryFrom(info);
  if (filterGradImpl === 'gemm') {
    conv2dFilterGradGemm(backend, x, dy, out, g);
  } else if (filterGradImpl === 'xnnpack') {
    conv2dFilterGradXnnpack(backend, x, dy, out, g);
  } else {
    conv2dFilterGradNHWC(
      f32View(backend, x, Conv2DBackpropFilter, 'x'), f32View(backend, dy, Conv2DBackpropFilter, 'dy'),
      f32View(backend, out, Conv2DBackpropFilter, 'dw'), g);
  }
  return out;
}

export const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as KernelFunc,
};
