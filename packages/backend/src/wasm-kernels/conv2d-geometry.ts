import type { backend_util } from '@tensorflow/tfjs-core';

/** The numbers a 2-D convolution loop needs, taken from tfjs's own shape/padding computation. */
export interface ConvGeometry {
  batch: number;
  inH: number; inW: number; inC: number;
  outH: number; outW: number; outC: number;
  fH: number; fW: number;
  sH: number; sW: number;
  dH: number; dW: number;
  padT: number; padL: number;
  /** Depthwise only: output channels per input channel. */
  mult: number;
}

export function geometryFrom(info: backend_util.Conv2DInfo): ConvGeometry {
  return {
    batch: info.batchSize,
    inH: info.inHeight, inW: info.inWidth, inC: info.inChannels,
    outH: info.outHeight, outW: info.outWidth, outC: info.outChannels,
    fH: info.filterHeight, fW: info.filterWidth,
    sH: info.strideHeight, sW: info.strideWidth,
    dH: info.dilationHeight, dW: info.dilationWidth,
    padT: info.padInfo.top, padL: info.padInfo.left,
    mult: info.outChannels / info.inChannels,
  };
}
