// The common shape of our one-pass WebGPU programs (elementwise passes, the sum of split partial
// results, Adam's update): `fn main(index : i32)` runs once per index of a flat range, in workgroups of
// 256 threads; the output is laid out flat. Subclasses give the inputs, uniforms, key and body.
import { util } from '@tensorflow/tfjs-core';
import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

export abstract class FlatProgram implements WebGPUProgram {
  abstract variableNames: string[];
  abstract uniforms: string;
  abstract shaderKey: string;
  outputShape: number[];
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [256, 1, 1];

  /** `threads`: how many indices main() is called for (default: one per output element). */
  constructor(outputShape: number[], threads = util.sizeFromShape(outputShape)) {
    this.outputShape = outputShape;
    this.dispatchLayout = { x: outputShape.map((_, i) => i) };
    this.dispatch = [Math.ceil(threads / 256), 1, 1];
  }

  abstract getUserCode(): string;
}
