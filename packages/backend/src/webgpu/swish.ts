// swish(x) = x · sigmoid(x) as one WebGPU program, with a one-program gradient.
//
// Why: tfjs-layers computes swish as mul(sigmoid(mul(x, 1)), x) and differentiates it through those
// ops: ten programs per activation and training step, ~490 per EfficientNet-B0 step (49 swish
// activations). Here: forward one program, backward dy · s · (1 + x · (1 − s)) with s = sigmoid(x),
// one program (registered gradient; x is saved, s is recomputed rather than stored).
import * as tf from '@tensorflow/tfjs-core';
import { fusedOpAvailable } from '../fused-op-available';
import { util, type GradConfig, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { FlatProgram } from './kernels/flat-program';

export const SWISH = 'PartsSwish';
export const SWISH_GRAD = 'PartsSwishGrad';

class SwishProgram extends FlatProgram {
  variableNames: string[];
  uniforms = 'count : i32,';
  shaderKey: string;

  constructor(
    shape: number[],
    private readonly grad: boolean,
  ) {
    super(shape);
    this.variableNames = grad ? ['x', 'dy'] : ['x'];
    this.shaderKey = grad ? 'partsSwishGrad' : 'partsSwish';
  }

  getUserCode(): string {
    // The same sigmoid expression as tfjs-backend-webgpu's Sigmoid.
    return `
      fn main(index : i32) {
        if (index < uniforms.count) {
          let a = x[index];
          let s = 1.0 / (1.0 + exp(-1.0 * a));
          ${this.grad ? 'result[index] = dy[index] * (s * (1.0 + a * (1.0 - s)));' : 'result[index] = s * a;'}
        }
      }`;
  }
}

function run(backend: WebGPUBackend, inputs: TensorInfo[], grad: boolean): TensorInfo {
  const shape = inputs[0].shape;
  if (grad && !util.arraysEqual(shape, inputs[1].shape)) throw new Error(`${SWISH_GRAD}: x [${shape}] and dy [${inputs[1].shape}] differ in shape`);
  return backend.runWebGPUProgram(new SwishProgram(shape, grad), inputs, 'float32', [{ type: 'int32', data: [util.sizeFromShape(shape)] }] as never);
}

export function swishKernelConfigs(): KernelConfig[] {
  type Args = { inputs: Record<string, TensorInfo>; backend: WebGPUBackend };
  return [
    { kernelName: SWISH, backendName: 'webgpu', kernelFunc: (({ inputs, backend }: Args) => run(backend, [inputs.x], false)) as unknown as KernelFunc },
    { kernelName: SWISH_GRAD, backendName: 'webgpu', kernelFunc: (({ inputs, backend }: Args) => run(backend, [inputs.x, inputs.dy], true)) as unknown as KernelFunc },
  ];
}

export const swishGradConfig: GradConfig = {
  kernelName: SWISH,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => ({ x: () => tf.engine().runKernel(SWISH_GRAD, { x: saved[0], dy: dy as tf.Tensor }) as tf.Tensor }),
};

/** True where the fused swish runs: the webgpu backend with its kernels registered. */
export function fusedSwishAvailable(): boolean {
  return fusedOpAvailable([SWISH, SWISH_GRAD], 'never');
}

/** x · sigmoid(x) in one program (WebGPU only: check fusedSwishAvailable). */
export function fusedSwish<T extends tf.Tensor>(x: T): T {
  if (!fusedSwishAvailable()) throw new Error(`fusedSwish needs the webgpu backend with ${SWISH} registered (current backend: ${tf.getBackend()})`);
  return tf.engine().runKernel(SWISH, { x }) as T;
}
