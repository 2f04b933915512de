// Sum and Mean over all axes but the last (a bias gradient: dy [B, H, W, C] -> [C]; batch-norm
// moments) on WebGPU.
//
// Why: the stock Sum transposes the reduced axes to the end and then reduces each of the C
// output values in one workgroup: only C (= 50 in Tiny VGG) workgroups read 400 MB, 3.5 ms per
// bias gradient on an H200 (9 ms per Tiny VGG step). Here a first pass has many workgroups each
// add up a chunk of rows for 64 columns (reads coalesced along the channels), a second adds the
// chunks (SumSplitsProgram).
import { backend_util, Mean, Sum, util, type KernelConfig, type KernelFunc, type MeanAttrs, type SumAttrs, type TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { splitReduction, sumSplits } from './conv-gemm';
import { runStock, type StockKernels } from './stock';

class ColumnPartialSumProgram implements WebGPUProgram {
  variableNames = ['x'];
  uniforms = 'rows : i32, cols : i32, rowsPerChunk : i32,';
  outputShape: number[];
  shaderKey = 'partsColumnPartialSum';
  dispatchLayout = { x: [1], y: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [256, 1, 1];

  constructor(chunks: number, cols: number) {
    this.outputShape = [chunks, cols];
    this.dispatch = [Math.ceil(cols / 64), chunks, 1];
  }

  getUserCode(): string {
    return `
      var<workgroup> part : array<f32, 256>;
      fn main() {
        let tc = i32(localIndex % 64u);
        let tr = i32(localIndex / 64u);
        let c = i32(workgroupId.x) * 64 + tc;
        let r0 = i32(workgroupId.y) * uniforms.rowsPerChunk;
        let r1 = min(uniforms.rows, r0 + uniforms.rowsPerChunk);
        var s = 0.0;
        if (c < uniforms.cols) {
          for (var r = r0 + tr; r < r1; r = r + 4) {
            s = s + x[r * uniforms.cols + c];
          }
        }
        part[localIndex] = s;
        workgroupBarrier();
        if (tr == 0 && c < uniforms.cols) {
          result[i32(workgroupId.y) * uniforms.cols + c] = part[tc] + part[tc + 64] + part[tc + 128] + part[tc + 192];
        }
      }`;
  }
}

/** Sum of x viewed as [rows, cols] over its rows. */
export function columnSum(backend: WebGPUBackend, x: TensorInfo, rows: number, cols: number, outShape: number[], scale = 1): TensorInfo {
  const { chunks: nChunks, chunkLength: rowsPerChunk } = splitReduction(rows, Math.ceil(cols / 64), 1024, 64);
  const partial = backend.runWebGPUProgram(new ColumnPartialSumProgram(nChunks, cols), [x], 'float32', [
    { type: 'int32', data: [rows] },
    { type: 'int32', data: [cols] },
    { type: 'int32', data: [rowsPerChunk] },
  ] as never);
  const out = sumSplits(backend, partial, nChunks, outShape, scale);
  backend.disposeData(partial.dataId);
  return out;
}

/**
 * Sum and Mean over exactly the leading axes (bias gradients; batch-norm moments over batch,
 * height and width) through the column sum; anything else goes to the stock kernel.
 */
function leadingAxesKernel(kernelName: typeof Sum | typeof Mean, stock: StockKernels): KernelConfig {
  const kernelFunc = (args: { inputs: { x: TensorInfo }; backend: WebGPUBackend; attrs: SumAttrs | MeanAttrs }): TensorInfo => {
    const { x } = args.inputs;
    const { axis, keepDims } = args.attrs;
    const rank = x.shape.length;
    const axes = util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
    const leading = rank >= 2 && axes.length === rank - 1 && axes.every((a, i) => a === i);
    if (!leading || x.dtype !== 'float32' || util.sizeFromShape(x.shape) === 0) return runStock(stock, kernelName, args);
    const cols = x.shape[rank - 1];
    const rows = util.sizeFromShape(x.shape) / cols;
    const outShape = keepDims ? backend_util.expandShapeToKeepDim([cols], axes) : [cols];
    return columnSum(args.backend, x, rows, cols, outShape, kernelName === Mean ? 1 / rows : 1);
  };
  return { kernelName, backendName: 'webgpu', kernelFunc: kernelFunc as unknown as KernelFunc };
}

export function sumKernelConfig(stock: StockKernels): KernelConfig {
  return leadingAxesKernel(Sum, stock);
}

export function meanKernelConfig(stock: StockKernels): KernelConfig {
  return leadingAxesKernel(Mean, stock);
}
