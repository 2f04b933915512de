import * as tf from '@tensorflow/tfjs-core';
import { convKernelConfigs } from './conv-kernels';
import { meanKernelConfig, sumKernelConfig } from './column-sum';
import { depthwiseFilterGradConfig } from './depthwise-filter-grad';
import { matMulKernelConfigs } from './matmul-kernels';
import { reluGradKernelConfig } from './relu-grad';
import { adamKernelConfigs } from './adam';
import { swishGradConfig, swishKernelConfigs } from '../swish';
import { batchNormTrainGradConfig, batchNormTrainKernelConfigs } from '../batch-norm-train';
import { convBiasReluGradConfig, convBiasReluKernelConfig } from '../conv-bias-relu';
import { envSetting } from '@parts/cli';

let registered: string[] | null = null;
const stockFuncs = new Map<string, tf.KernelFunc>();

/** The stock tfjs-backend-webgpu kernel that one of ours replaced (for A/B timing). */
export function stockWebGPUKernel(name: string): tf.KernelFunc | undefined {
  return stockFuncs.get(name);
}

/**
 * Replaces stock tfjs-backend-webgpu kernels with ours (unregistering first: tfjs refuses to
 * register a kernel twice). PARTS_WEBGPU_KERNELS=stock keeps the stock ones (A/B timing); a
 * comma list of kernel names limits which of ours are used. Returns the names replaced.
 */
export function registerWebGPUKernels(): string[] {
  if (registered) return registered;
  const stock = (name: string) => stockFuncs.get(name);
  const sel = envSetting('PARTS_WEBGPU_KERNELS') ?? 'all';
  const names = sel === 'all' ? null : new Set(sel.split(','));
  registered = [];
  if (sel === 'stock') return registered;
  for (const k of [...convKernelConfigs(stock), ...matMulKernelConfigs(stock), depthwiseFilterGradConfig(stock), sumKernelConfig(stock), meanKernelConfig(stock), reluGradKernelConfig(), convBiasReluKernelConfig(), ...adamKernelConfigs(), ...swishKernelConfigs(), ...batchNormTrainKernelConfigs()]) {
    if (names && !names.has(k.kernelName)) continue;
    const old = tf.getKernel(k.kernelName, 'webgpu');
    if (old) {
      stockFuncs.set(k.kernelName, old.kernelFunc);
      tf.unregisterKernel(k.kernelName, 'webgpu');
    }
    tf.registerKernel(k);
    registered.push(k.kernelName);
  }
  for (const g of [convBiasReluGradConfig, swishGradConfig, batchNormTrainGradConfig]) {
    if (registered.includes(g.kernelName) && !tf.getGradient(g.kernelName)) tf.registerGradient(g);
  }
  return registered;
}
