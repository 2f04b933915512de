// PartsReluGrad (webgpu only): dy where the ReLU's output y is positive, else 0, in one pass. tfjs
// differentiates ReLU as dy · step(x): two passes (Step, Multiply) over tensors of 0.4 GB in Tiny
// VGG at 256 px. Used by convBiasRelu's gradient (conv-bias-relu.ts).
import { util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { FlatProgram } from './flat-program';

export const RELU_GRAD = 'PartsReluGrad';

class ReluGradProgram extends FlatProgram {
  variableNames = ['dy', 'y'];
  uniforms = 'count : i32,';
  shaderKey = 'partsReluGrad';

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index < uniforms.count) {
          result[index] = select(0.0, dy[index], y[index] > 0.0);
        }
      }`;
  }
}

export function reluGradKernelConfig(): KernelConfig {
  const kernelFunc = (args: { inputs: { dy: TensorInfo; y: TensorInfo }; backend: WebGPUBackend }): TensorInfo => {
    const { dy, y } = args.inputs;
    if (!util.arraysEqual(dy.shape, y.shape)) throw new Error(`${RELU_GRAD}: dy [${dy.shape}] and y [${y.shape}] differ in shape`);
    return args.backend.runWebGPUProgram(new ReluGradProgram(dy.shape), [dy, y], 'float32', [{ type: 'int32', data: [util.sizeFromShape(dy.shape)] }] as never);
  };
  return { kernelName: RELU_GRAD, backendName: 'webgpu', kernelFunc: kernelFunc as unknown as KernelFunc };
}
