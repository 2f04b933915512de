// Times each convolution kernel of Tiny VGG's training step in isolation on WebGPU: the stock
// tfjs-backend-webgpu kernel and our implicit-GEMM kernel at several tile shapes and both inner
// loops (TMxTN = scalar core, TMxTN:vec4, 'p' = register prefetch), so one device call says which
// variant is fastest. Times are GPU times from timestamp queries (tf.time). Usage: tsx webgpu-microbench.ts [batch] [--json FILE]
import { writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { backend_util, BatchMatMul, Conv2D, Conv2DBackpropFilter, Conv2DBackpropInput } from '@tensorflow/tfjs-core';
import { initForBench } from './init-backend';
import { runConvGemm, runSplitKMatMul, type ConvGemmOp } from '../src/webgpu/kernels/conv-gemm';
import { stockWebGPUKernel } from '../src/webgpu/kernels/register';
import { parseVariant } from '../src/webgpu/kernels/kernel-choice';
import { winogradUnfit } from '../src/webgpu/kernels/winograd';
import { envSetting } from '@parts/cli';

const args = process.argv.slice(2);
const jsonAt = args.indexOf('--json');
const jsonFile = jsonAt >= 0 ? args.splice(jsonAt, 2)[1] : null;
const batch = Number(args[0] ?? 32);
const iters = envSetting('PARTS_MICRO_ITERS')!;
console.log(`microbench: ${await initForBench('webgpu')} batch ${batch}`);
const backend = tf.engine().backend as never;

const layers = [
  { name: 'conv1', x: [batch, 256, 256, 3], f: [3, 3, 3, 50] },
  { name: 'conv2', x: [batch, 254, 254, 50], f: [3, 3, 50, 50] },
  { name: 'conv4', x: [batch, 124, 124, 50], f: [3, 3, 50, 50] },
];
const kernelName: Record<Exclude<ConvGemmOp, 'matmul'>, string> = { forward: Conv2D, inputGrad: Conv2DBackpropInput, filterGrad: Conv2DBackpropFilter };
// Winograd's GFLOP/s are effective ones (the direct convolution's FLOPs over its time).
const variants = (envSetting('PARTS_MICRO_VARIANTS') ?? 'stock,8x4,4x4,8x4:scalarp,8x4:vec4,8x4:vec4p,4x4:vec4p,8x8:vec4p,4x8:vec4p,wino:16x4,wino:32x4,wino:16x4p,wino:32x4p,wino:16x4n56p,wino:32x4n64p,wino:32x4n56p,wino:16x8,wino:32x8').split(',');
const limits = (tf.engine().backend as unknown as { device: GPUDevice }).device.limits;
const rows: { layer: string; op: string; variant: string; ms: number; gflops: number }[] = [];

/** Median GPU time (timestamp queries through tf.time) of one launch of `run`, after a warm-up. */
async function timeOp(run: () => tf.TensorInfo, n = iters): Promise<number> {
  const once = async () => {
    const t = await tf.time(() => {
      const out = run();
      (tf.engine().backend as unknown as { disposeData: (id: object) => void }).disposeData(out.dataId);
    });
    return t.kernelMs as number;
  };
  await once(); // compile
  const ms: number[] = [];
  for (let i = 0; i < n; i++) ms.push(await once());
  ms.sort((a, b) => a - b);
  return ms[Math.floor(ms.length / 2)];
}

// Latency of one tiny readback (dispatch + mapAsync): the fixed cost every awaited step pays.
{
  const a = tf.ones([4]);
  for (let i = 0; i < 3; i++) await tf.add(a, 1).data();
  const t0 = performance.now();
  for (let i = 0; i < 20; i++) {
    const b = tf.add(a, 1);
    await b.data();
    b.dispose();
  }
  console.log(`  readback latency (tiny add + data()): ${((performance.now() - t0) / 20).toFixed(2)} ms`);
  a.dispose();
}

for (const l of layers) {
  const info = backend_util.computeConv2DInfo(l.x as never, l.f as never, 1, 1, 'valid');
  const x = tf.randomNormal(l.x);
  const w = tf.randomNormal(l.f);
  const dy = tf.randomNormal([batch, info.outHeight, info.outWidth, info.outChannels]);
  const flops = 2 * batch * info.outHeight * info.outWidth * info.outChannels * l.f[0] * l.f[1] * l.f[2];
  for (const op of ['forward', 'inputGrad', 'filterGrad'] as const) {
    if (op === 'inputGrad' && l.name === 'conv1') continue; // never computed in training
    for (const v of variants) {
      let run: () => tf.TensorInfo;
      // The stock filter gradient (naive, ~5 s per call here) was timed in call 1; skip it.
      if (v === 'stock' && op === 'filterGrad') continue;
      if (v === 'stock') {
        const f = stockWebGPUKernel(kernelName[op]);
        if (!f) continue;
        const attrs = { strides: 1, pad: 'valid', dataFormat: 'NHWC', dilations: 1, dimRoundingMode: undefined, filterShape: l.f, inputShape: l.x };
        const inputs = op === 'forward' ? { x, filter: w } : op === 'inputGrad' ? { dy, filter: w } : { x, dy };
        run = () => f({ inputs, backend, attrs } as never) as tf.TensorInfo;
      } else {
        const choice = parseVariant(v);
        if (choice.winograd && op === 'filterGrad') continue;
        const unfit = choice.winograd && winogradUnfit(choice.winograd, limits);
        if (unfit) {
          console.log(`  ${l.name} ${op.padEnd(10)} ${v.padEnd(9)} skipped: ${unfit}`);
          continue;
        }
        const ins = (op === 'forward' ? [x, w] : op === 'inputGrad' ? [dy, w] : [x, dy]) as [tf.Tensor, tf.Tensor];
        run = () => runConvGemm(backend, op, info, ins, undefined, choice);
      }
      const ms = await timeOp(run, iters);
      rows.push({ layer: l.name, op, variant: v, ms, gflops: flops / ms / 1e6 });
      console.log(`  ${l.name} ${op.padEnd(10)} ${v.padEnd(9)} ${ms.toFixed(2).padStart(9)} ms  ${(flops / ms / 1e6).toFixed(0).padStart(6)} GFLOP/s`);
    }
  }
  tf.dispose([x, w, dy]);
}

// Tiny VGG's dense layer forward (flattened 61·61·50 features → 64 units): stock vs our split-K.
{
  const K = 61 * 61 * 50;
  const a = tf.randomNormal([1, batch, K]);
  const b = tf.randomNormal([1, K, 64]);
  const flops = 2 * batch * K * 64;
  const stock = stockWebGPUKernel(BatchMatMul);
  const attrs = { transposeA: false, transposeB: false };
  for (const [variant, run] of [
    ['stock', () => stock!({ inputs: { a, b }, backend, attrs } as never) as tf.TensorInfo],
    ['splitK', () => runSplitKMatMul(backend, a, b, batch, K, 64, [1, batch, 64])],
  ] as const) {
    if (variant === 'stock' && !stock) continue;
    const ms = await timeOp(run, iters);
    rows.push({ layer: 'dense', op: 'forward', variant, ms, gflops: flops / ms / 1e6 });
    console.log(`  dense forward    ${variant.padEnd(9)} ${ms.toFixed(2).padStart(9)} ms  ${(flops / ms / 1e6).toFixed(0).padStart(6)} GFLOP/s`);
  }
  tf.dispose([a, b]);
}
if (jsonFile) writeFileSync(jsonFile, JSON.stringify(rows, null, 1));
