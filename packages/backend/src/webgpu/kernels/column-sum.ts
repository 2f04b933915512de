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
import { splitReduction, sumSplits } from './split-k';
import { runStock, type StockKernels } from './stock';

/**
 * What a column pass adds up per column c of [rows, cols] (m = the column's mean, an input):
 *   sum:      Σ x                       (inputs x)
 *   centered: Σ x, Σ (x − m)²           (inputs x, mean [cols]): batch-norm mean and variance, two-pass like tf.moments
 *   bnGrad:   Σ dy, Σ dy·(x − m)        (inputs dy, x, stats [2, cols] = mean, variance): batch-norm backward
 */
export type ColumnSumMode = 'sum' | 'centered' | 'bnGrad';

const MODES: Record<ColumnSumMode, { inputs: string[]; terms: string[] }> = {
  sum: { inputs: ['x'], terms: ['v'] },
  centered: { inputs: ['x', 'mean'], terms: ['v', '(v - m) * (v - m)'] },
  bnGrad: { inputs: ['dy', 'x', 'stats'], terms: ['d', 'd * (v - m)'] },
};

class ColumnPartialSumProgram implements WebGPUProgram {
  variableNames: string[];
  uniforms = 'rows : i32, cols : i32, rowsPerChunk : i32,';
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [1], y: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [256, 1, 1];

  constructor(
    chunks: number,
    cols: number,
    private readonly mode: ColumnSumMode,
  ) {
    this.variableNames = MODES[mode].inputs;
    this.shaderKey = `partsColumnPartialSum_${mode}`;
    // [chunk, term, col]: the second pass adds the chunks of every term at once.
    this.outputShape = [chunks, MODES[mode].terms.length * cols];
    this.dispatch = [Math.ceil(cols / 64), chunks, 1];
  }

  getUserCode(): string {
    const terms = MODES[this.mode].terms;
    const T = terms.length;
    const m = { sum: '0.0', centered: 'mean[c]', bnGrad: 'stats[c]' }[this.mode];
    return `
      var<workgroup> part : array<f32, ${256 * T}>;
      fn main() {
        let tc = i32(localIndex % 64u);
        let tr = i32(localIndex / 64u);
        let c = i32(workgroupId.x) * 64 + tc;
        let r0 = i32(workgroupId.y) * uniforms.rowsPerChunk;
        let r1 = min(uniforms.rows, r0 + uniforms.rowsPerChunk);
        ${terms.map((_, t) => `var s${t} = 0.0;`).join(' ')}
        if (c < uniforms.cols) {
          let m = ${m};
          for (var r = r0 + tr; r < r1; r = r + 4) {
            let i = r * uniforms.cols + c;
            ${this.mode === 'bnGrad' ? 'let d = dy[i]; let v = x[i];' : 'let v = x[i];'}
            ${terms.map((e, t) => `s${t} = s${t} + ${e};`).join(' ')}
          }
        }
        ${terms.map((_, t) => `part[${t * 256} + i32(localIndex)] = s${t};`).join(' ')}
        workgroupBarrier();
        if (tr == 0 && c < uniforms.cols) {
          let base = i32(workgroupId.y) * ${T} * uniforms.cols;
          ${terms
            .map((_, t) => `result[base + ${t} * uniforms.cols + c] = part[${t * 256} + tc] + part[${t * 256} + tc + 64] + part[${t * 256} + tc + 128] + part[${t * 256} + tc + 192];`)
            .join('\n          ')}
        }
      }`;
  }
}

/**
 * Column sums over the rows of [rows, cols] data, times `scale`, shaped `outShape` (terms·cols
 * values). `inputs` are the mode's inputs in ColumnSumMode's order (for 'sum' just x).
 */
export function columnSum(backend: WebGPUBackend, inputs: TensorInfo[], rows: number, cols: number, outShape: number[], scale = 1, mode: ColumnSumMode = 'sum'): TensorInfo {
  const { chunks: nChunks, chunkLength: rowsPerChunk } = splitReduction(rows, Math.ceil(cols / 64), 1024, 64);
  const partial = backend.runWebGPUProgram(new ColumnPartialSumProgram(nChunks, cols, mode), inputs, 'float32', [
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
    return columnSum(args.backend, [x], rows, cols, outShape, kernelName === Mean ? 1 / rows : 1);
  };
  return { kernelName, backendName: 'webgpu', kernelFunc: kernelFunc as unknown as KernelFunc };
}

export function sumKernelConfig(stock: StockKernels): KernelConfig {
  return leadingAxesKernel(Sum, stock);
}

export function meanKernelConfig(stock: StockKernels): KernelConfig {
  return leadingAxesKernel(Mean, stock);
}
