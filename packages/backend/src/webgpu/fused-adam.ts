// Adam whose per-variable update is two WebGPU programs (kernels/adam.ts), or two SIMD passes on wasm,
// instead of tfjs' fourteen elementwise ops. Elsewhere (or where those kernels are not registered) it is exactly tfjs' Adam:
// the class is tfjs' AdamOptimizer and hands over to it.
import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap } from '@tensorflow/tfjs-core';
import { ADAM_APPLY, ADAM_MOMENTS } from './kernels/adam';
import { fusedOpAvailable } from '../fused-op-available';

/** True where the fused update runs: webgpu with our Adam kernels, or wasm with its SIMD kernels (wasm-kernels/fused-train-ops.ts). */
export function fusedAdamAvailable(): boolean {
  return fusedOpAvailable([ADAM_MOMENTS, ADAM_APPLY], 'simd');
}

type VariableGradients = Parameters<tf.AdamOptimizer['applyGradients']>[0];

export class FusedAdam extends tf.AdamOptimizer {
  /** Per variable name: its first and second moments packed as [2, size]. */
  private readonly moments = new Map<string, tf.Variable>();
  /** β1^t and β2^t as tfjs keeps them: float32 running products (its bias correction, to the last bit). */
  private powBeta1 = Math.fround(this.beta1);
  private powBeta2 = Math.fround(this.beta2);
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
    const attrs = {
      beta1: this.beta1,
      beta2: this.beta2,
      epsilon: this.epsilon,
      learningRate: this.learningRate,
      c1: Math.fround(1 - this.powBeta1),
      c2: Math.fround(1 - this.powBeta2),
    } as unknown as NamedAttrMap;
    const engine = tf.engine();
    tf.tidy(() => {
      for (const [name, g] of grads) {
        if (g == null) continue;
        const value = engine.registeredVariables[name];
        if (!value) throw new Error(`FusedAdam: no variable named '${name}'`);
        let mv = this.moments.get(name);
        if (!mv) {
          mv = tf.zeros([2, value.size]).variable(false); // unnamed: another optimizer on the same variables must not clash
          this.moments.set(name, mv);
        }
        const next = engine.runKernel(ADAM_MOMENTS, { mv, g }, attrs) as tf.Tensor;
        mv.assign(next);
        value.assign(engine.runKernel(ADAM_APPLY, { x: value, mv: next }, attrs) as tf.Tensor);
      }
    });
    this.powBeta1 = Math.fround(this.powBeta1 * Math.fround(this.beta1));
    this.powBeta2 = Math.fround(this.powBeta2 * Math.fround(this.beta2));
    this.incrementIterations();
  }

  override dispose(): void {
    super.dispose();
    for (const v of this.moments.values()) v.dispose();
    this.moments.clear();
  }

  override async getWeights(): ReturnType<tf.AdamOptimizer['getWeights']> {
    if (this.fused) throw new Error('FusedAdam: saving the optimizer state of the fused update is not supported');
    return super.getWeights();
  }

  override async setWeights(weights: Parameters<tf.AdamOptimizer['setWeights']>[0]): Promise<void> {
    if (this.fused) throw new Error('FusedAdam: loading optimizer state into the fused update is not supported');
    this.fused = false; // loaded state lives in tfjs' Adam: keep using it
    return super.setWeights(weights);
  }
}

/** Adam as the training loop uses it: FusedAdam (fused on WebGPU, tfjs' Adam elsewhere). */
export function createAdam(learningRate: number): tf.Optimizer {
  return new FusedAdam(learningRate);
}
