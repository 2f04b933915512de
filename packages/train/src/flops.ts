// Forward-pass FLOPs of a layers model (multiply-add = 2 FLOPs), for GFLOP/s figures in the
// benchmark. Counts the layers that dominate: convolutions, depthwise convolutions and dense.
import type * as tfl from '@tensorflow/tfjs-layers';

type AnyLayer = tfl.layers.Layer & { getConfig(): Record<string, unknown> };

export function forwardFlops(model: tfl.LayersModel): number {
  let total = 0;
  for (const layer of model.layers as AnyLayer[]) {
    if ((layer as unknown as { layers?: unknown[] }).layers) {
      total += forwardFlops(layer as unknown as tfl.LayersModel); // nested model (e.g. a base)
      continue;
    }
    const cls = layer.getClassName();
    const out = layer.outputShape as number[];
    const inp = (layer.input as tfl.SymbolicTensor).shape as number[];
    const cfg = layer.getConfig();
    const ks = cfg.kernelSize as number[] | undefined;
    if (cls === 'Conv2D' && ks) {
      const cin = inp[3];
      total += 2 * out[1] * out[2] * out[3] * ks[0] * ks[1] * cin;
    } else if (cls === 'DepthwiseConv2D' && ks) {
      total += 2 * out[1] * out[2] * out[3] * ks[0] * ks[1];
    } else if (cls === 'Dense') {
      total += 2 * (inp.at(-1) as number) * (out.at(-1) as number);
    }
  }
  return total;
}
