// Batch normalisation in training mode (batch statistics over every axis but the last) on WebGPU,
// with its gradient, in ten programs instead of ~35.
//
// Why: tfjs computes it as tf.moments (Mean, SquaredDifference, Mean, reshapes) and FusedBatchNorm,
// and differentiates both op by op (tfjs' FusedBatchNorm gradient alone is ~20 programs): ~35
// programs per layer and training step, ~1,800 per ResNet50 step (53 layers). Here:
//   forward   mean = Σx/N; [mean, var] = [Σx, Σ(x−mean)²]/N (two-pass like tf.moments, each a column
//             sum: partial sums + a summing pass); y = (x − mean)·rsqrt(var + ε)·γ + β
//   backward  [S1, S2] = [Σdy, Σdy·(x − mean)] (one column sum); dx = γ·r·(dy − S1/N − (x − mean)·r²·S2/N)
//             with r = rsqrt(var + ε); dγ = r·S2; dβ = S1; each of the three only when asked for.
// The kernel also returns the statistics [2, C] (mean, biased variance) for the moving averages.
import * as tf from '@tensorflow/tfjs-core';
import { fusedOpAvailable } from '../fused-op-available';
import { util, type GradConfig, type KernelConfig, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { FlatProgram } from './kernels/flat-program';
import { columnSum } from './kernels/column-sum';

export const BATCH_NORM_TRAIN = 'PartsBatchNormTrain';
export const BATCH_NORM_TRAIN_GRAD = 'PartsBatchNormTrainGrad';

type Output = 'y' | 'dx' | 'dgamma';

/** The elementwise passes: y (forward), dx (backward), dγ (per channel). */
class BatchNormProgram extends FlatProgram {
  variableNames: string[];
  uniforms = 'count : i32, cols : i32, eps : f32, invN : f32,';
  shaderKey: string;

  constructor(
    shape: number[],
    private readonly output: Output,
  ) {
    super(shape);
    this.variableNames = { y: ['x', 'stats', 'gamma', 'beta'], dx: ['x', 'stats', 'gamma', 'dy', 'sums'], dgamma: ['stats', 'sums'] }[output];
    this.shaderKey = `partsBatchNorm_${output}`;
  }

  getUserCode(): string {
    const body = {
      y: 'result[index] = (x[index] - stats[c]) * inverseSqrt(stats[uniforms.cols + c] + uniforms.eps) * gamma[c] + beta[c];',
      dx: `let r = inverseSqrt(stats[uniforms.cols + c] + uniforms.eps);
          let centered = x[index] - stats[c];
          result[index] = gamma[c] * r * (dy[index] - sums[c] * uniforms.invN - centered * r * r * sums[uniforms.cols + c] * uniforms.invN);`,
      dgamma: 'result[index] = inverseSqrt(stats[uniforms.cols + c] + uniforms.eps) * sums[uniforms.cols + c];',
    }[this.output];
    return `
      fn main(index : i32) {
        if (index < uniforms.count) {
          let c = index % uniforms.cols;
          ${body}
        }
      }`;
  }
}

interface Args {
  inputs: Record<string, TensorInfo>;
  backend: WebGPUBackend;
  attrs: { epsilon: number; output?: 'dx' | 'dgamma' };
}

function elementwise(backend: WebGPUBackend, shape: number[], output: Output, inputs: TensorInfo[], cols: number, eps: number, rows: number): TensorInfo {
  return backend.runWebGPUProgram(new BatchNormProgram(shape, output), inputs, 'float32', [
    { type: 'int32', data: [util.sizeFromShape(shape)] },
    { type: 'int32', data: [cols] },
    { type: 'float32', data: [eps] },
    { type: 'float32', data: [1 / rows] },
  ] as never);
}

function geometry(x: TensorInfo, gamma: TensorInfo, beta?: TensorInfo): { cols: number; rows: number } {
  const cols = x.shape[x.shape.length - 1];
  const ok = (t?: TensorInfo) => !t || (t.shape.length === 1 && t.shape[0] === cols);
  if (x.shape.length < 2 || !ok(gamma) || !ok(beta)) throw new Error(`${BATCH_NORM_TRAIN}: x [${x.shape}] needs gamma and beta of shape [${cols}]`);
  return { cols, rows: util.sizeFromShape(x.shape) / cols };
}

export function batchNormTrainKernelConfigs(): KernelConfig[] {
  const forward = ({ inputs: { x, gamma, beta }, backend, attrs }: Args): TensorInfo[] => {
    const { cols, rows } = geometry(x, gamma, beta);
    const mean = columnSum(backend, [x], rows, cols, [cols], 1 / rows);
    const stats = columnSum(backend, [x, mean], rows, cols, [2, cols], 1 / rows, 'centered');
    backend.disposeData(mean.dataId);
    const y = elementwise(backend, x.shape, 'y', [x, stats, gamma, beta], cols, attrs.epsilon, rows);
    return [y, stats];
  };
  const grad = ({ inputs: { x, stats, gamma, dy, sums }, backend, attrs }: Args): TensorInfo => {
    const { cols, rows } = geometry(x, gamma);
    if (attrs.output === 'dgamma') return elementwise(backend, [cols], 'dgamma', [stats, sums], cols, attrs.epsilon, rows);
    return elementwise(backend, x.shape, 'dx', [x, stats, gamma, dy, sums], cols, attrs.epsilon, rows);
  };
  const sums = ({ inputs: { dy, x, stats }, backend }: Args): TensorInfo => {
    const cols = x.shape[x.shape.length - 1];
    return columnSum(backend, [dy, x, stats], util.sizeFromShape(x.shape) / cols, cols, [2, cols], 1, 'bnGrad');
  };
  return [
    { kernelName: BATCH_NORM_TRAIN, backendName: 'webgpu', kernelFunc: forward as unknown as KernelFunc },
    { kernelName: BATCH_NORM_TRAIN_GRAD, backendName: 'webgpu', kernelFunc: grad as unknown as KernelFunc },
    { kernelName: `${BATCH_NORM_TRAIN}Sums`, backendName: 'webgpu', kernelFunc: sums as unknown as KernelFunc },
  ];
}

export const batchNormTrainGradConfig: GradConfig = {
  kernelName: BATCH_NORM_TRAIN,
  inputsToSave: ['x', 'gamma', 'beta'],
  outputsToSave: [false, true],
  gradFunc: (dys, saved, attrs) => {
    const [x, gamma, beta, stats] = saved;
    const dy = (Array.isArray(dys) ? dys[0] : dys) as tf.Tensor;
    const engine = tf.engine();
    // With a fused ReLU (wasm only) the kernels mask dy themselves and need γ and β for it.
    const { epsilon, relu } = attrs as unknown as { epsilon: number; relu?: boolean };
    const reluInputs: tf.NamedTensorMap = relu ? { gamma, beta } : {};
    // Σdy and Σdy·(x − mean) per channel: every input's gradient needs them; kept until the backward pass ends.
    const sums = engine.runKernel(`${BATCH_NORM_TRAIN}Sums`, { dy, x, stats, ...reluInputs }, { epsilon, relu: relu === true } as unknown as NamedAttrMap) as tf.Tensor;
    const run = (output: 'dx' | 'dgamma') =>
      engine.runKernel(BATCH_NORM_TRAIN_GRAD, { x, stats, gamma, dy, sums, ...reluInputs }, { epsilon, output, relu: relu === true } as unknown as NamedAttrMap) as tf.Tensor;
    return {
      x: () => run('dx'),
      gamma: () => run('dgamma'),
      beta: () => tf.reshape(tf.slice(sums, [0, 0], [1, gamma.shape[0]]), gamma.shape),
    };
  },
};

/** True where the fused batch norm runs: the webgpu or wasm backend with its kernels registered (wasm: wasm-kernels/batch-norm-train.ts). */
export function fusedBatchNormTrainAvailable(): boolean {
  return fusedOpAvailable([BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD], 'always');
}

/**
 * Batch normalisation with batch statistics over every axis but the last: y, and the batch mean and
 * (biased) variance for the moving averages. gamma, beta: [C]. WebGPU and wasm (fusedBatchNormTrainAvailable).
 * With `relu`, y is max(y, 0): on wasm inside the same kernels (the ReLU's forward and gradient
 * passes disappear), elsewhere as a ReLU after them.
 */
export function fusedBatchNormTrain(
  x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon: number, relu = false,
): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  if (!fusedBatchNormTrainAvailable()) throw new Error(`fusedBatchNormTrain needs the webgpu backend with ${BATCH_NORM_TRAIN} registered (current backend: ${tf.getBackend()})`);
  const inKernel = relu && tf.getBackend() === 'wasm';
  const [y, stats] = tf.engine().runKernel(BATCH_NORM_TRAIN, { x, gamma, beta }, { epsilon, relu: inKernel } as unknown as NamedAttrMap) as tf.Tensor[];
  const c = gamma.shape[0];
  const [mean, variance] = tf.split(stats, 2, 0).map((t) => tf.reshape(t, [c]) as tf.Tensor1D);
  return { y: relu && !inKernel ? tf.relu(y) : y, mean, variance };
}
