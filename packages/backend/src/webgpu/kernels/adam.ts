// Adam's update in two WebGPU programs per variable instead of fourteen. tfjs' AdamOptimizer builds
// the update from elementwise ops (mul, add, square, div, sqrt, ... : 14 dispatches per variable
// and step), so a ResNet50 or EfficientNet step dispatched ~2,500 programs for Adam alone — most of
// its JavaScript recording time. Here:
//   PartsAdamMoments: [m', v'] = [b1·m + (1-b1)·g, b2·v + (1-b2)·g²], m and v packed in one [2, n] tensor
//   PartsAdamApply:   x' = x - lr · (m'/c1) / (sqrt(v'/c2) + eps), c1 = 1 - b1^t, c2 = 1 - b2^t
// in the same order of float operations as tfjs' formula. Used by FusedAdam (fused-adam.ts).
import { util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { FlatProgram } from './flat-program';

export const ADAM_MOMENTS = 'PartsAdamMoments';
export const ADAM_APPLY = 'PartsAdamApply';

class MomentsProgram extends FlatProgram {
  variableNames = ['mv', 'g'];
  uniforms = 'n : i32, b1 : f32, oneMinusB1 : f32, b2 : f32, oneMinusB2 : f32,';
  shaderKey = 'partsAdamMoments';

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index < uniforms.n) {
          let gi = g[index];
          result[index] = mv[index] * uniforms.b1 + gi * uniforms.oneMinusB1;
          result[uniforms.n + index] = mv[uniforms.n + index] * uniforms.b2 + (gi * gi) * uniforms.oneMinusB2;
        }
      }`;
  }
}

class ApplyProgram extends FlatProgram {
  variableNames = ['x', 'mv'];
  uniforms = 'n : i32, c1 : f32, c2 : f32, eps : f32, negLr : f32,';
  shaderKey = 'partsAdamApply';

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index < uniforms.n) {
          let m = mv[index] / uniforms.c1;
          let v = mv[uniforms.n + index] / uniforms.c2;
          result[index] = (m / (sqrt(v) + uniforms.eps)) * uniforms.negLr + x[index];
        }
      }`;
  }
}

interface Args<I extends string> {
  inputs: Record<I, TensorInfo>;
  backend: WebGPUBackend;
  attrs: Record<string, number>;
}

export function adamKernelConfigs(): KernelConfig[] {
  const moments = ({ inputs: { mv, g }, backend, attrs }: Args<'mv' | 'g'>): TensorInfo => {
    const n = util.sizeFromShape(g.shape);
    if (util.sizeFromShape(mv.shape) !== 2 * n) throw new Error(`${ADAM_MOMENTS}: moments hold ${util.sizeFromShape(mv.shape)} values, expected 2 × ${n}`);
    const f = (v: number) => ({ type: 'float32', data: [v] });
    return backend.runWebGPUProgram(new MomentsProgram([2, n], n), [mv, g], 'float32',
      [{ type: 'int32', data: [n] }, f(attrs.beta1), f(1 - attrs.beta1), f(attrs.beta2), f(1 - attrs.beta2)] as never);
  };
  const apply = ({ inputs: { x, mv }, backend, attrs }: Args<'x' | 'mv'>): TensorInfo => {
    const n = util.sizeFromShape(x.shape);
    if (util.sizeFromShape(mv.shape) !== 2 * n) throw new Error(`${ADAM_APPLY}: moments hold ${util.sizeFromShape(mv.shape)} values, expected 2 × ${n}`);
    const f = (v: number) => ({ type: 'float32', data: [v] });
    return backend.runWebGPUProgram(new ApplyProgram(x.shape, n), [x, mv], 'float32',
      [{ type: 'int32', data: [n] }, f(attrs.c1), f(attrs.c2), f(attrs.epsilon), f(-attrs.learningRate)] as never);
  };
  return [
    { kernelName: ADAM_MOMENTS, backendName: 'webgpu', kernelFunc: moments as unknown as KernelFunc },
    { kernelName: ADAM_APPLY, backendName: 'webgpu', kernelFunc: apply as unknown as KernelFunc },
  ];
}
