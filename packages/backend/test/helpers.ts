import * as tf from '@tensorflow/tfjs-core';

/** Deterministic values in [-1, 1) (LCG), so both backends get identical inputs. */
export function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

export function tensor(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(values(shape.reduce((a, b) => a * b, 1), seed), shape);
}

/** Runs `f` on `backend` and returns every output's values. */
export async function on(backend: string, f: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(f);
  const data = await Promise.all(outs.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose(outs);
  return data;
}

/** Largest |a-b| relative to the largest |b| (at least 1). */
export function relErr(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let d = 0, m = 1;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

export interface TrainStepsOptions {
  backend: string;
  /** Variable name → shape; each filled with `values` (seeds `seed`, `seed + 1`, … in order) times `scale`, `gamma` around 1. */
  shapes: Record<string, number[]>;
  seed: number;
  scale: number;
  steps: number;
  /** Made after the backend is set, as is everything else here. */
  optimizer: () => tf.Optimizer;
  data: () => { x: tf.Tensor; y: tf.Tensor };
  loss: (v: Record<string, tf.Variable>, x: tf.Tensor, y: tf.Tensor) => tf.Scalar;
}

/** A few optimizer steps of a small net on `backend`, for comparing backends: each step's loss and the final weights. */
export async function trainSteps(o: TrainStepsOptions): Promise<{ losses: number[]; weights: Float32Array[] }> {
  await tf.setBackend(o.backend);
  const v = Object.fromEntries(Object.entries(o.shapes).map(([k, s], i) =>
    [k, tf.variable(tf.tensor(values(s.reduce((a, b) => a * b, 1), o.seed + i).map((x) => (k === 'gamma' ? 1 + 0.1 * x : o.scale * x)), s))]));
  const { x, y } = o.data();
  const opt = o.optimizer();
  const losses: number[] = [];
  for (let step = 0; step < o.steps; step++) {
    const loss = opt.minimize(() => o.loss(v, x, y), true)!;
    losses.push((await loss.data())[0]!);
    loss.dispose();
  }
  const weights = await Promise.all(Object.values(v).map((t) => t.data() as Promise<Float32Array>));
  tf.dispose([x, y, ...Object.values(v)]);
  opt.dispose();
  return { losses, weights };
}
