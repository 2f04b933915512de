import { backend_util, DepthwiseConv2dNativeBackpropFilter } from '@tensorflow/tfjs-core';
import type {
  DepthwiseConv2dNativeBackpropFilterAttrs, DepthwiseConv2dNativeBackpropFilterInputs, KernelConfig, KernelFunc, TensorInfo,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { f32View, validOutRange, zeroedOutput, need } from './heap';
import { type ConvGeometry, geometryFrom } from './conv2d-geometry';

/**
 * dW[fh,fw,c,m] = Σ_{n,oh,ow} x[n,ih,iw,c] · dy[n,oh,ow,c·M+m], NHWC, filter [fH,fW,inC,M].
 * Per (pixel, tap) the channel loop runs over contiguous memory in x, dy and dW; the multiplier-1
 * case (EfficientNet) gets its own loop without the inner m loop. `dw` must be zeroed by the caller.
 */
export function depthwiseFilterGradNHWC(x: Float32Array, dy: Float32Array, dw: Float32Array, g: ConvGeometry): void {
  const { batch, inH, inW, inC, outH, outW, outC, fH, fW, sH, sW, dH, dW, padT, padL, mult } = g;
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
          const wb = (fh * fW + fw) * outC;
          for (let ow = owStart; ow < owEnd; ow++) {
            const xi = xRow + (ow * sW + off) * inC;
            const di = dyRow + ow * outC;
            if (mult === 1) {
              for (let c = 0; c < inC; c++) dw[wb + c] += x[xi + c] * dy[di + c];
            } else {
              for (let c = 0; c < inC; c++) {
                const xv = x[xi + c];
                const o = c * mult;
                for (let m = 0; m < mult; m++) dw[wb + o + m] += xv * dy[di + o + m];
              }
            }
          }
        }
      }
    }
  }
}

function depthwiseBackpropFilter(args: {
  inputs: DepthwiseConv2dNativeBackpropFilterInputs; backend: BackendWasm; attrs: DepthwiseConv2dNativeBackpropFilterAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const x = need(inputs.x, DepthwiseConv2dNativeBackpropFilter, 'x');
  const dy = need(inputs.dy, DepthwiseConv2dNativeBackpropFilter, 'dy');
  const { strides, dilations, pad, dimRoundingMode, filterShape } = attrs;
  const name = DepthwiseConv2dNativeBackpropFilter;
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filterShape, strides, dilations, pad, dimRoundingMode, true);
  const out = zeroedOutput(backend, filterShape);
  depthwiseFilterGradNHWC(f32View(backend, x, name, 'x'), f32View(backend, dy, name, 'dy'), f32View(backend, out, name, 'dw'), geometryFrom(info));
  return out;
}

export const depthwiseConv2dNativeBackpropFilterConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropFilter as unknown as KernelFunc,
};
