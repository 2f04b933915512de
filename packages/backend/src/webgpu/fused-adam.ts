// Adam whose per-variable update is two WebGPU programs (kernels/adam.ts) instead of tfjs' fourteen
// elementwise ops. Elsewhere (or where those kernels are not registered) it is exactly tfjs' Adam:
// the class is tfjs' AdamOptimizer and hands over to it.
import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap } from '@tensorflow/tfjs-core';
import { ADAM_APPLY, ADAM_MOMENTS } from './kernels/adam';

/** True where the fused update runs: the webgpu backend with our Adam kernels registered. */
export function fusedAdamAvailable(): boolean {
  return tf.getBackend() === 'webgpu' && Boolean(tf.getKernel(ADAM_MOMENTS, 'webgpu')) && Boolean(tf.getKernel(ADAM_APPLY, 'webgpu'));
}

type VariableGradients = Parameters<tf.AdamOptimizer['applyGradients']>[0];

export class FusedAdam extends tf.AdamOptimizer {
  /** Per variable name: its first and second moments packed as [2, size]. */
  private readonly moments = new Map<string, tf.Variable>();
  private fusedSteps = 0;
  private fused: boolean | null = null;

  constructor(learningRate: number, beta1 = 0.9, beta2 = 0.999, epsilon?: number) {
    super(learningRate, beta1, beta2, epsilon);
  }

  override applyGradients(variableGradients: VariableGradients): void {
    // Decided on the first call and kept: the moments live either here or in tfjs' Adam.
    this.fused ??= fusedAdamAvailable();
    if (!this.fused) return super.applyGradients(variableGradients);
    const grads: [string, tf.Tensor][] = Array.isArray(variableGradients)
      ? variableGradients.map((g) => [g.name, g.tensor])
      : Object.entries(variableGradients as Record<string, tf.Tensor>);
    this.fusedSteps++;
    const attrs = {
      beta1: this.beta1,
      beta2: this.beta2,
      epsilon: this.epsilon,
      learningRate: this.learningRate,
      c1: 1 - this.beta1 ** this.fusedSteps,
      c2: 1 - this.beta2 ** this.fusedSteps,
    } as unknown as NamedAttrMap;
    const engine = tf.engine();
    tf.tidy(() => {
      for (const [name, g] of grads) {
        if (g == null) continue;
        const value = engine.registeredVariables[name];
        if (!value) throw new Error(`FusedAdam: no variable named '${name}'`);
        let mv = this.moments.get(name);
        if (!mv) {
          mv = tf.zeros([2, value.size]).variable(false, `${name}/adam_mv`);
          this.moments.set(name, mv);
        }
        const next = engine.runKernel(ADAM_MOMENTS, { mv, g }, attrs) as tf.Tensor;
        mv.assign(next);
        value.assign(engine.runKernel(ADAM_APPLY, { x: value, mv: next }, attrs) as tf.Tensor);
      }
    });
    this.incrementIterations();
  }

  override dispose(): void {
    super.dispose();
    for (const v of this.moments.values()) v.dispose();
    this.moments.clear();
  }

  override async getWeights(): ReturnType<tf.AdamOptimizer['getWeights']> {
    if (this.fused) throw new Error('FusedAdam: saving the optimizer state of the fused WebGPU update is not supported');
    return super.getWeights();
  }
}

/** Adam as the training loop uses it: FusedAdam (fused on WebGPU, tfjs' Adam elsewhere). */
export function createAdam(learningRate: number): tf.Optimizer {
  return new FusedAdam(learningRate);
}
