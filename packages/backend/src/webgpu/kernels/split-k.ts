// Split-K reductions: a first pass writes [splits, size] partial results (filter gradients,
// matmuls, column sums), a second adds them up (WGSL has no float atomics), optionally with a
// bias and activation epilogue.
import { util, type TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { FlatProgram } from './flat-program';
import { MAX_WORKGROUPS_PER_DIM } from './device-limits';
import { ACTIVATION_WGSL, type Epilogue } from './epilogue';

/**
 * Sums the [splits, size] partial results of a split-K GEMM (filter gradient, matmul) or of the
 * column sum, times `scale`; with an epilogue (fused matmul), adds the bias of column
 * index % cols and applies the activation.
 */
export class SumSplitsProgram extends FlatProgram {
  variableNames: string[];
  uniforms = 'splits : i32, count : i32, scale : f32, cols : i32, alpha : f32,';
  shaderKey: string;

  constructor(
    outputShape: number[],
    private readonly epilogue?: Epilogue,
  ) {
    super(outputShape);
    this.variableNames = ['partial', ...(epilogue?.bias ? ['bias'] : [])];
    this.shaderKey = `partsSumSplits${epilogue ? `_${epilogue.bias ? 'b' : ''}${epilogue.activation}` : ''}`;
  }

  getUserCode(): string {
    const e = this.epilogue;
    return `
      fn main(index : i32) {
        if (index < uniforms.count) {
          var s = 0.0;
          for (var p = 0; p < uniforms.splits; p++) {
            s = s + partial[p * uniforms.count + index];
          }
          var r = s * uniforms.scale;
          ${e?.bias ? 'r = r + bias[index % uniforms.cols];' : ''}
          ${e ? ACTIVATION_WGSL[e.activation] : ''}
          result[index] = r;
        }
      }`;
  }
}

/**
 * Chunks of a reduction of `length` for a first pass whose partial results a second pass adds up
 * (split-K GEMMs, column sum, depthwise filter gradient): about `targetWorkgroups` workgroups in all,
 * counting the `otherWorkgroups` the dispatch has along its other dimensions, each chunk at least
 * `minChunk` long (so a workgroup's loop amortises its prologue) and a multiple of `align`.
 */
export function splitReduction(length: number, otherWorkgroups: number, targetWorkgroups: number, minChunk: number, align = 1): { chunks: number; chunkLength: number } {
  const wanted = Math.max(1, Math.min(Math.ceil(targetWorkgroups / otherWorkgroups), Math.floor(length / minChunk), MAX_WORKGROUPS_PER_DIM));
  const chunkLength = Math.ceil(length / wanted / align) * align;
  return { chunks: Math.ceil(length / chunkLength), chunkLength };
}

/** Adds up `splits` partial results laid out as [splits, size(outShape)] (times `scale`). */
export function sumSplits(backend: WebGPUBackend, partial: TensorInfo, splits: number, outShape: number[], scale = 1, epilogue?: Epilogue, bias?: TensorInfo): TensorInfo {
  return backend.runWebGPUProgram(new SumSplitsProgram(outShape, epilogue), bias ? [partial, bias] : [partial], 'float32', [
    { type: 'int32', data: [splits] },
    { type: 'int32', data: [util.sizeFromShape(outShape)] },
    { type: 'float32', data: [scale] },
    { type: 'int32', data: [outShape[outShape.length - 1] ?? 1] },
    { type: 'float32', data: [epilogue?.alpha ?? 0] },
  ] as never);
}
