// DepthwiseConv2dNativeBackpropFilter on WebGPU (EfficientNet's and MobileNet's depthwise layers).
//
// Why: the stock kernel runs one thread per filter element (3·3·96 = 864 threads for an early
// EfficientNet layer), each looping over batch × output height × width (32·128·128 = 524k
// iterations at 256 px): the same serial pattern that made the stock Conv2DBackpropFilter take
// seconds per step. Here K = (b, oy, ox) is split into chunks over ~2k workgroups; a workgroup
// covers 64 output channels (coalesced reads of dy and x along the channels) and 4 interleaved
// K lanes, each thread keeps one accumulator per filter tap (the tap loop is unrolled), the 4
// lanes are added in workgroup memory and a second pass adds the chunks (SumSplitsProgram).
//
//   dW[fy, fx, c, q] = Σ_{b,oy,ox} x[b, oy·s − p + fy, ox·s − p + fx, c] · dy[b, oy, ox, c·mult + q]
import {
  backend_util,
  DepthwiseConv2dNativeBackpropFilter,
  type DepthwiseConv2dNativeBackpropFilterAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { splitReduction, sumSplits } from './split-k';
import { runStock, type StockKernels } from './stock';

const CHANNELS_PER_GROUP = 64;
const K_LANES = 4;

export class DepthwiseFilterGradProgram implements WebGPUProgram {
  variableNames = ['x', 'dy'];
  uniforms = 'inH : i32, inW : i32, inC : i32, mult : i32, outH : i32, outW : i32, outC : i32, strideH : i32, strideW : i32, padT : i32, padL : i32, K : i32, kPerChunk : i32,';
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [1], y: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [CHANNELS_PER_GROUP * K_LANES, 1, 1];

  constructor(
    private readonly fH: number,
    private readonly fW: number,
    outC: number,
    chunks: number,
  ) {
    this.outputShape = [chunks, fH * fW * outC];
    this.dispatch = [Math.ceil(outC / CHANNELS_PER_GROUP), chunks, 1];
    this.shaderKey = `partsDepthwiseFilterGrad_${fH}x${fW}`;
  }

  getUserCode(): string {
    const taps = [...Array(this.fH * this.fW).keys()];
    const accumulate = taps
      .map((t) => {
        const fy = Math.floor(t / this.fW);
        const fx = t % this.fW;
        return `{
            let sy = y0 + ${fy};
            let sx = x0 + ${fx};
            if (sy >= 0 && sy < uniforms.inH && sx >= 0 && sx < uniforms.inW) {
              acc${t} = fma(x[((b * uniforms.inH + sy) * uniforms.inW + sx) * uniforms.inC + ci], g, acc${t});
            }
          }`;
      })
      .join('\n');
    const reduce = taps
      .map(
        (t) => `
        part[localIndex] = acc${t};
        workgroupBarrier();
        if (lane == 0 && co < uniforms.outC) {
          result[(chunk * ${taps.length} + ${t}) * uniforms.outC + co] = part[tc] + part[tc + 64] + part[tc + 128] + part[tc + 192];
        }
        workgroupBarrier();`,
      )
      .join('');
    return `
      var<workgroup> part : array<f32, ${CHANNELS_PER_GROUP * K_LANES}>;
      fn main() {
        let tc = i32(localIndex % ${CHANNELS_PER_GROUP}u);
        let lane = i32(localIndex / ${CHANNELS_PER_GROUP}u);
        let co = i32(workgroupId.x) * ${CHANNELS_PER_GROUP} + tc;
        let chunk = i32(workgroupId.y);
        let k0 = chunk * uniforms.kPerChunk;
        let k1 = min(uniforms.K, k0 + uniforms.kPerChunk);
        ${taps.map((t) => `var acc${t} = 0.0;`).join(' ')}
        if (co < uniforms.outC) {
          let ci = co / uniforms.mult;
          let ohw = uniforms.outH * uniforms.outW;
          for (var k = k0 + lane; k < k1; k = k + ${K_LANES}) {
            let b = k / ohw;
            let rem = k - b * ohw;
            let oy = rem / uniforms.outW;
            let ox = rem - oy * uniforms.outW;
            let g = dy[k * uniforms.outC + co];
            let y0 = oy * uniforms.strideH - uniforms.padT;
            let x0 = ox * uniforms.strideW - uniforms.padL;
            ${accumulate}
          }
        }
        ${reduce}
      }`;
  }
}

export function depthwiseFilterGradConfig(stock: StockKernels): KernelConfig {
  const kernelFunc = (args: { inputs: { x: TensorInfo; dy: TensorInfo }; backend: WebGPUBackend; attrs: DepthwiseConv2dNativeBackpropFilterAttrs }): TensorInfo => {
    const { x, dy } = args.inputs;
    const { strides, dilations, pad, dimRoundingMode, filterShape } = args.attrs;
    const c = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, dilations, pad, dimRoundingMode, true);
    if (c.dilationHeight !== 1 || c.dilationWidth !== 1 || x.dtype !== 'float32') return runStock(stock, DepthwiseConv2dNativeBackpropFilter, args);
    const backend = args.backend;
    const K = c.batchSize * c.outHeight * c.outWidth;
    // About 2k workgroups in all, each chunk at least 256 positions long.
    const { chunks, chunkLength: kPerChunk } = splitReduction(K, Math.ceil(c.outChannels / CHANNELS_PER_GROUP), 2048, 256);
    const partial = backend.runWebGPUProgram(new DepthwiseFilterGradProgram(c.filterHeight, c.filterWidth, c.outChannels, chunks), [x, dy], 'float32',
      [c.inHeight, c.inWidth, c.inChannels, c.outChannels / c.inChannels, c.outHeight, c.outWidth, c.outChannels, c.strideHeight, c.strideWidth,
        c.padInfo.top, c.padInfo.left, K, kPerChunk].map((d) => ({ type: 'int32', data: [d] })) as never);
    const out = sumSplits(backend, partial, chunks, filterShape);
    backend.disposeData(partial.dataId);
    return out;
  };
  return { kernelName: DepthwiseConv2dNativeBackpropFilter, backendName: 'webgpu', kernelFunc: kernelFunc as unknown as KernelFunc };
}
