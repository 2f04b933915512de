// Times PartsNet's (or Tiny VGG's) convolutions (128 px, batch 16 by default) on the wasm backend: forward, input
// gradient and each filter-gradient implementation, interleaved in rounds so that a busy machine
// slows all of them alike; prints the median per call and GFLOP/s. Where the oneDNN kernels load, each of
// forward, input gradient and filter gradient is also timed on them (the `onednn:` columns).
// Usage: tsx packages/train/bench/wasm-conv-grads.ts [--arch partsnet|tinyvgg] [--img-size 128] [--batch 16] [--rounds 5]
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, onednnKernelsState, setConv2dFilterGradImpl, startOnednnKernels, stopOnednnKernels, wasmThreadsInUse, type FilterGradImpl } from '@parts/backend';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
}
const size = Number(arg('img-size', '128'));
const batch = Number(arg('batch', '16'));
const rounds = Number(arg('rounds', '5'));
const info = await initBackend('wasm');
// [input size, in channels, out channels, stride, padding] of the model's 3×3 convolutions.
const arch = arg('arch', 'partsnet');
const s = size / 2;
const t = Math.floor((size - 4) / 2);
const layers: [number, number, number, number, 'same' | 'valid'][] = arch === 'tinyvgg'
  ? [[size, 3, 50, 1, 'valid'], [size - 2, 50, 50, 1, 'valid'], [t, 50, 50, 1, 'valid'], [t - 2, 50, 50, 1, 'valid']]
  : [[size, 3, 24, 2, 'same'], [s, 24, 32, 1, 'same'], [s / 2, 32, 64, 1, 'same'], [s / 2, 64, 64, 1, 'same'], [s / 4, 64, 128, 1, 'same'], [s / 4, 128, 128, 1, 'same'], [s / 8, 128, 256, 1, 'same']];
const impls: FilterGradImpl[] = ['gemm', 'xnnpack'];
const med = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1]!;
console.log(`${info.device}, batch ${batch}, ${size} px: ms per call (median of ${rounds}), GFLOP/s`);
const total: Record<string, number> = {};
for (const [hw, ci, co, st, pad] of layers) {
  const x = tf.randomUniform([batch, hw, hw, ci]) as tf.Tensor4D;
  const f = tf.randomUniform([3, 3, ci, co]) as tf.Tensor4D;
  const y = tf.conv2d(x, f, st, pad);
  const dy = tf.randomUniform(y.shape) as tf.Tensor4D;
  const flops = 2 * y.size * 9 * ci;
  const runs: Record<string, () => tf.Tensor> = {
    forward: () => tf.conv2d(x, f, st, pad),
    input: () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, { strides: st, pad, dataFormat: 'NHWC', dimRoundingMode: undefined, inputShape: x.shape } as never) as tf.Tensor,
  };
  for (const impl of impls) {
    runs[`filter:${impl}`] = () => {
      setConv2dFilterGradImpl(impl);
      return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: st, pad, dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape: f.shape } as never) as tf.Tensor;
    };
  }
  // The wasm kernels with oneDNN's taken off; the same three on oneDNN where it loads.
  const onednn = onednnKernelsState().active;
  for (const [k, run] of Object.entries(runs)) runs[k] = () => { stopOnednnKernels(); return run(); };
  if (onednn) {
    const native = (run: () => tf.Tensor) => () => { startOnednnKernels(wasmThreadsInUse()); return run(); };
    runs['onednn:forward'] = native(() => tf.conv2d(x, f, st, pad));
    runs['onednn:input'] = native(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, { strides: st, pad, dataFormat: 'NHWC', dimRoundingMode: undefined, inputShape: x.shape } as never) as tf.Tensor);
    runs['onednn:filter'] = native(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: st, pad, dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape: f.shape } as never) as tf.Tensor);
  }
  const times: Record<string, number[]> = {};
  for (let r = 0; r <= rounds; r++) {
    for (const [k, run] of Object.entries(runs)) {
      const t0 = performance.now();
      const o = run();
      await o.data();
      o.dispose();
      if (r > 0) (times[k] ??= []).push(performance.now() - t0); // round 0 warms up
    }
  }
  const cells = Object.entries(times).map(([k, t]) => {
    total[k] = (total[k] ?? 0) + med(t);
    return `${k} ${med(t).toFixed(1)} ms ${(flops / med(t) / 1e6).toFixed(1)}`;
  });
  console.log(`${hw}x${hw}x${ci}->${co}/s${st}: ${cells.join(' | ')}`);
  tf.dispose([x, f, y, dy]);
}
console.log(`total: ${Object.entries(total).map(([k, t]) => `${k} ${t.toFixed(1)} ms`).join(' | ')}`);
setConv2dFilterGradImpl('gemm');
