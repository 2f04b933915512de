import { backend_util, Conv2DBackpropInput } from '@tensorflow/tfjs-core';
import type { Conv2DBackpropInputAttrs, Conv2DBackpropInputInputs, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { assertChannelsLast, f32View, validOutRange, zeroedOutput, need } from './heap';
import { type ConvGeometry, geometryFrom } from './conv2d-geometry';

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

function conv2DBackpropInput(args: { inputs: Conv2DBackpropInputInputs; backend: BackendWasm; attrs: Conv2DBackpropInputAttrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const dy = need(inputs.dy, Conv2DBackpropInput, 'dy');
  const filter = need(inputs.filter, Conv2DBackpropInput, 'filter');
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs;
  assertChannelsLast(Conv2DBackpropInput, dataFormat);
  const info = backend_util.computeConv2DInfo(
    inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const out = zeroedOutput(backend, [...inputShape]);
  conv2dInputGradNHWC(
    f32View(backend, dy, Conv2DBackpropInput, 'dy'), f32View(backend, filter, Conv2DBackpropInput, 'filter'),
    f32View(backend, out, Conv2DBackpropInput, 'dx'), geometryFrom(info));
  return out;
}

export const conv2DBackpropInputConfig: KernelConfig = {
  kernelName: Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInput as unknown as KernelFunc,
};
