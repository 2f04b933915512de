// What a GEMM-style program does to each output before storing it (FusedConv2D, _FusedMatMul: bias
// and activation), shared by the implicit-GEMM and Winograd convolutions and the split-K sums.

/** What the forward convolution does to each output before storing it (FusedConv2D). */
export interface Epilogue {
  bias: boolean;
  activation: FusedActivation;
  /** leakyrelu's slope for negative inputs. */
  alpha?: number;
}

export type FusedActivation = 'linear' | 'relu' | 'relu6' | 'elu' | 'sigmoid' | 'leakyrelu';
export const FUSED_ACTIVATIONS: readonly FusedActivation[] = ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu'];

export const ACTIVATION_WGSL: Record<FusedActivation, string> = {
  linear: '',
  relu: 'r = max(r, 0.0);',
  relu6: 'r = clamp(r, 0.0, 6.0);',
  elu: 'if (r < 0.0) { r = exp(r) - 1.0; }',
  sigmoid: 'r = 1.0 / (1.0 + exp(-r));',
  leakyrelu: 'if (r < 0.0) { r = uniforms.alpha * r; }',
};
