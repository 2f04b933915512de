import { backend_util, DepthwiseConv2dNativeBackpropInput } from '@tensorflow/tfjs-core';
import type {
  DepthwiseConv2dNativeBackpropInputAttrs, DepthwiseConv2dNativeBackpropInputInputs, KernelConfig, KernelFunc, TensorInfo,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { f32View, validOutRange, zeroedOutput, need } from './heap';
import { type ConvGeometry, geometryFrom } from './conv2d-geometry';

/**
 * dx[n,ih,iw,c] = Σ_{fh,fw,m} dy[n,oh,ow,c·M+m] · W[fh,fw,c,m], NHWC, filter [fH,fW,inC,M].
 * Scatter over (output pixel, tap) with contiguous channel loops. `dx` must be zeroed by the caller.
 */
export function depthwiseInputGradNHWC(dy: Float32Array, w: Float32Array, dx: Float32Array, g: ConvGeometry): void {
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
              for (let c = 0; c < inC; c++) dx[xi + c] += dy[di + c] * w[wb + c];
            } else {
              for (let c = 0; c < inC; c++) {
                const o = c * mult;
                let a = 0;
                for (let m = 0; m < mult; m++) a += dy[di + o + m] * w[wb + o + m];
                dx[xi + c] += a;
              }
            }
          }
        }
      }
    }
  }
}

function depthwiseBackpropInput(args: {
  inputs: DepthwiseConv2dNativeBackpropInputInputs; backend: BackendWasm; attrs: DepthwiseConv2dNativeBackpropInputAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const dy = need(inputs.dy, DepthwiseConv2dNativeBackpropInput, 'dy');
  const filter = need(inputs.filter, DepthwiseConv2dNativeBackpropInput, 'filter');
  const { strides, dilations, pad, dimRoundingMode, inputShape } = attrs;
  const name = DepthwiseConv2dNativeBackpropInput;
  const info = backend_util.computeConv2DInfo(
    inputShape, filter.shape as [number, number, number, number], strides, dilations, pad, dimRoundingMode, true);
  const out = zeroedOutput(backend, [...inputShape]);
  depthwiseInputGradNHWC(f32View(backend, dy, name, 'dy'), f32View(backend, filter, name, 'filter'), f32View(backend, out, name, 'dx'), geometryFrom(info));
  return out;
}

export const depthwiseConv2dNativeBackpropInputConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropInput as unknown as KernelFunc,
};
