import { backend_util, MaxPoolGrad } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, MaxPoolGradAttrs, MaxPoolGradInputs, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { f32View, zeroedOutput, need } from './heap';
import { simdKernels } from './simd';

/**
 * dx of a 2-D max pool, NHWC: each dy value goes to the first (row-major) maximum of its window,
 * like the cpu backend. Replaces tfjs-backend-wasm 4.22's MaxPoolGrad, which routes gradients to
 * wrong positions for some shapes (e.g. 2×2/2 'valid' on odd-sized inputs; see the tests).
 */
export function maxPoolGradNHWC(x: Float32Array, dy: Float32Array, dx: Float32Array, info: backend_util.Conv2DInfo): void {
  const { batchSize, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo,
    strideHeight: sH, strideWidth: sW, dilationHeight: dH, dilationWidth: dW,
    effectiveFilterHeight: eH, effectiveFilterWidth: eW } = info;
  const padT = info.padInfo.top, padL = info.padInfo.left;
  for (let n = 0; n < batchSize; n++) {
    for (let oh = 0; oh < Ho; oh++) {
      const h0 = oh * sH - padT;
      for (let ow = 0; ow < Wo; ow++) {
        const w0 = ow * sW - padL;
        const di = ((n * Ho + oh) * Wo + ow) * C;
        for (let c = 0; c < C; c++) {
          let best = -Infinity;
          let at = -1;
          for (let h = Math.max(0, h0); h < Math.min(H, h0 + eH); h += 1) {
            if ((h - h0) % dH !== 0) continue;
            const row = (n * H + h) * W;
            for (let w = Math.max(0, w0); w < Math.min(W, w0 + eW); w += 1) {
              if ((w - w0) % dW !== 0) continue;
              const v = x[(row + w) * C + c]!;
              if (v > best || at < 0) { best = v; at = (row + w) * C + c; }
            }
          }
          if (at >= 0) dx[at] += dy[di + c]!;
        }
      }
    }
  }
}

function maxPoolGrad(args: { inputs: MaxPoolGradInputs; backend: BackendWasm; attrs: MaxPoolGradAttrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const dy = need(inputs.dy, MaxPoolGrad, 'dy');
  const input = need(inputs.input, MaxPoolGrad, 'input');
  const { filterSize, strides, pad, dimRoundingMode } = attrs;
  const info = backend_util.computePool2DInfo(input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  const out = zeroedOutput(backend, input.shape);
  const simd = simdKernels(backend);
  if (simd && info.dilationHeight === 1 && info.dilationWidth === 1) {
    const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, strideHeight, strideWidth } = info;
    simd.maxPoolGrad(simd.ptr(input), simd.ptr(dy), simd.ptr(out), 0, batchSize * outHeight,
      inHeight, inWidth, inChannels, outHeight, outWidth, info.effectiveFilterHeight, info.effectiveFilterWidth,
      strideHeight, strideWidth, info.padInfo.top, info.padInfo.left);
    return out;
  }
  maxPoolGradNHWC(f32View(backend, input, MaxPoolGrad, 'input'), f32View(backend, dy, MaxPoolGrad, 'dy'), f32View(backend, out, MaxPoolGrad, 'dx'), info);
  return out;
}

export const maxPoolGradConfig: KernelConfig = {
  kernelName: MaxPoolGrad,
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as unknown as KernelFunc,
};
