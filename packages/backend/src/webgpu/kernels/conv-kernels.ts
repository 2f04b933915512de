// Conv2D, FusedConv2D, Conv2DBackpropInput and Conv2DBackpropFilter for the 'webgpu' backend
// through the implicit-GEMM programs in conv-gemm.ts. Cases they do not cover (NCHW data, PReLU,
// odd bias shapes) go to the stock tfjs-backend-webgpu kernel, captured at registration.
//
// FusedConv2D matters as much as Conv2D: tfjs-layers runs every convolution with a bias or an
// activation through it outside gradient tapes (inference, the forward benchmark) and, inside
// one, whenever the activation is linear (the convolutions before batch norm in ResNet,
// Inception, EfficientNet).
import {
  backend_util,
  Conv2D,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  FusedConv2D,
  util,
  type Conv2DAttrs,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropInputAttrs,
  type FusedConv2DAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { runConvGemm } from './conv-gemm';
import { FUSED_ACTIVATIONS, type FusedActivation } from './epilogue';
import { runStock, type KernelArgs, type StockKernels } from './stock';

export function convKernelConfigs(stock: StockKernels): KernelConfig[] {
  const fallback = (name: string, args: KernelArgs): TensorInfo => runStock(stock, name, args);
  const conv2d = (args: KernelArgs): TensorInfo => {
    const { x, filter } = args.inputs;
    const { strides, pad, dataFormat, dilations, dimRoundingMode } = args.attrs as unknown as Conv2DAttrs;
    if (backend_util.convertConv2DDataFormat(dataFormat) !== 'channelsLast') return fallback(Conv2D, args);
    const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number],
      strides, dilations, pad, dimRoundingMode, false, 'channelsLast');
    return runConvGemm(args.backend, 'forward', info, [x, filter]);
  };
  const fusedConv2d = (args: KernelArgs): TensorInfo => {
    const { x, filter, bias, preluActivationWeights } = args.inputs;
    const { strides, pad, dataFormat, dilations, dimRoundingMode, activation, leakyreluAlpha } = args.attrs as unknown as FusedConv2DAttrs;
    const outChannels = filter.shape[3];
    const biasOk = !bias || (util.sizeFromShape(bias.shape) === outChannels && bias.shape[bias.shape.length - 1] === outChannels && bias.dtype === 'float32');
    const act = activation as FusedActivation;
    if (backend_util.convertConv2DDataFormat(dataFormat) !== 'channelsLast' || preluActivationWeights || !biasOk || !FUSED_ACTIVATIONS.includes(act)) {
      return fallback(FusedConv2D, args);
    }
    const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number],
      strides, dilations, pad, dimRoundingMode, false, 'channelsLast');
    return runConvGemm(args.backend, 'forward', info, bias ? [x, filter, bias] : [x, filter], { bias: Boolean(bias), activation: act, alpha: leakyreluAlpha });
  };
  const inputGrad = (args: KernelArgs): TensorInfo => {
    const { dy, filter } = args.inputs;
    const { inputShape, strides, pad, dataFormat, dimRoundingMode } = args.attrs as unknown as Conv2DBackpropInputAttrs;
    if (backend_util.convertConv2DDataFormat(dataFormat) !== 'channelsLast') return fallback(Conv2DBackpropInput, args);
    const info = backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad,
      dimRoundingMode, false, 'channelsLast');
    return runConvGemm(args.backend, 'inputGrad', info, [dy, filter]);
  };
  const filterGrad = (args: KernelArgs): TensorInfo => {
    const { x, dy } = args.inputs;
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as unknown as Conv2DBackpropFilterAttrs;
    if (backend_util.convertConv2DDataFormat(dataFormat) !== 'channelsLast') return fallback(Conv2DBackpropFilter, args);
    const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad,
      dimRoundingMode, false, 'channelsLast');
    return runConvGemm(args.backend, 'filterGrad', info, [x, dy]);
  };
  return [
    { kernelName: Conv2D, backendName: 'webgpu', kernelFunc: conv2d as unknown as KernelFunc },
    { kernelName: FusedConv2D, backendName: 'webgpu', kernelFunc: fusedConv2d as unknown as KernelFunc },
    { kernelName: Conv2DBackpropInput, backendName: 'webgpu', kernelFunc: inputGrad as unknown as KernelFunc },
    { kernelName: Conv2DBackpropFilter, backendName: 'webgpu', kernelFunc: filterGrad as unknown as KernelFunc },
  ];
}
