// Starts the backend for the GPU scripts: WebGPU through our setup (custom kernels included), or any
// other tfjs backend by name. Returns a one-line description.
import * as tf from '@tensorflow/tfjs-core';
import '@parts/backend';
import { setupWebGPU } from '../src/webgpu/index';

export async function initForBench(name: string): Promise<string> {
  let desc = name;
  if (name === 'webgpu') desc = (await setupWebGPU()).device;
  if (!(await tf.setBackend(name))) throw new Error(`backend ${name} did not start`);
  await tf.ready();
  return desc;
}
