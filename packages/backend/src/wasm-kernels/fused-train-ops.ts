// The project's fused training ops (ReLU convolution, ReLU gradient, Adam in two passes) on the wasm
// backend, the same kernels by name and meaning as the WebGPU ones (webgpu/conv-bias-relu.ts,
// webgpu/kernels/relu-grad.ts, webgpu/kernels/adam.ts), as SIMD passes (assembly/kernels.ts).
//
// Why: tfjs differentiates a ReLU convolution as Step and Multiply over the layer's output and the
// bias gradient as a Sum, and runs Adam as fourteen elementwise ops per variable; its wasm
// elementwise kernels are scalar and single-threaded. For Tiny VGG at 256 px (11.9 M weights in
// its dense layer, 25 M-value activations) those passes were a third of the training step.
import { getKernel, util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { CONV_BIAS_RELU } from '../webgpu/conv-bias-relu';
import { RELU_GRAD } from '../webgpu/kernels/relu-grad';
import { ADAM_APPLY, ADAM_MOMENTS } from '../webgpu/kernels/adam';
import { need } from './heap';
import { simdKernels, type SimdKernels } from './simd';

interface Args {
  inputs: Record<string, TensorInfo | undefined>;
  backend: BackendWasm;
  attrs: Record<string, unknown>;
}

function kernelsFor(kernel: string, backend: BackendWasm): SimdKernels {
  const k = simdKernels(backend);
  if (k == null) throw new Error(`${kernel} (wasm kernel): the SIMD kernels are not loaded`);
  return k;
}

function reluGrad({ inputs, backend }: Args): TensorInfo {
  const dy = need(inputs.dy, RELU_GRAD, 'dy'), y = need(inputs.y, RELU_GRAD, 'y');
  if (!util.arraysEqual(dy.shape, y.shape)) throw new Error(`${RELU_GRAD}: dy [${dy.shape}] and y [${y.shape}] differ in shape`);
  const k = kernelsFor(RELU_GRAD, backend);
  const out = backend.makeOutput(dy.shape, 'float32');
  k.reluGrad(k.ptr(dy), k.ptr(y), k.ptr(out), 0, util.sizeFromShape(dy.shape));
  return out;
}

function adamMoments({ inputs, backend, attrs }: Args): TensorInfo {
  const mv = need(inputs.mv, ADAM_MOMENTS, 'mv'), g = need(inputs.g, ADAM_MOMENTS, 'g');
  const n = util.sizeFromShape(g.shape);
  if (util.sizeFromShape(mv.shape) !== 2 * n) throw new Error(`${ADAM_MOMENTS}: moments hold ${util.sizeFromShape(mv.shape)} values, expected 2 × ${n}`);
  const k = kernelsFor(ADAM_MOMENTS, backend);
  const out = backend.makeOutput([2, n], 'float32');
  const b1 = attrs.beta1 as number, b2 = attrs.beta2 as number;
  k.adamMoments(k.ptr(mv), k.ptr(g), k.ptr(out), n, 0, n, b1, Math.fround(1 - b1), b2, Math.fround(1 - b2));
  return out;
}

function adamApply({ inputs, backend, attrs }: Args): TensorInfo {
  const x = need(inputs.x, ADAM_APPLY, 'x'), mv = need(inputs.mv, ADAM_APPLY, 'mv');
  const n = util.sizeFromShape(x.shape);
  if (util.sizeFromShape(mv.shape) !== 2 * n) throw new Error(`${ADAM_APPLY}: moments hold ${util.sizeFromShape(mv.shape)} values, expected 2 × ${n}`);
  const k = kernelsFor(ADAM_APPLY, backend);
  const out = backend.makeOutput(x.shape, 'float32');
  k.adamApply(k.ptr(x), k.ptr(mv), k.ptr(out), n, 0, n,
    attrs.c1 as number, attrs.c2 as number, attrs.epsilon as number, -(attrs.learningRate as number));
  return out;
}

/** relu(conv2d(x, w) + b): the wasm FusedConv2D kernel (XNNPACK, bias and ReLU in its epilogue). */
function convBiasRelu({ inputs, backend, attrs }: Args): TensorInfo {
  const fused = getKernel('FusedConv2D', 'wasm');
  if (fused == null) throw new Error(`${CONV_BIAS_RELU} (wasm kernel): no FusedConv2D kernel on wasm`);
  return fused.kernelFunc({
    inputs: { x: need(inputs.x, CONV_BIAS_RELU, 'x'), filter: need(inputs.filter, CONV_BIAS_RELU, 'filter'), bias: need(inputs.bias, CONV_BIAS_RELU, 'bias') },
    backend,
    attrs: { strides: attrs.strides, pad: attrs.pad, dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined, activation: 'relu' },
  } as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
}

/** The fused training ops on wasm; registered only where the SIMD kernels load (their only implementation). */
export const fusedTrainOpConfigs: readonly KernelConfig[] = [
  { kernelName: RELU_GRAD, backendName: 'wasm', kernelFunc: reluGrad as unknown as KernelFunc },
  { kernelName: ADAM_MOMENTS, backendName: 'wasm', kernelFunc: adamMoments as unknown as KernelFunc },
  { kernelName: ADAM_APPLY, backendName: 'wasm', kernelFunc: adamApply as unknown as KernelFunc },
  { kernelName: CONV_BIAS_RELU, backendName: 'wasm', kernelFunc: convBiasRelu as unknown as KernelFunc },
];
