// preprocessInput against values computed by hand from Keras' preprocess_input definitions.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@parts/backend';
import { preprocessInput } from '../src/preprocess';

beforeAll(async () => {
  await initBackend('cpu', () => {});
});

// Two pixels: (R, G, B) = (0, 128, 255) and (10, 20, 30).
const pixels = () => tf.tensor4d([0, 128, 255, 10, 20, 30], [1, 1, 2, 3]);
const run = (spec: Parameters<typeof preprocessInput>[1]) => {
  const x = pixels();
  const y = preprocessInput(x, spec);
  const out = Array.from(y.dataSync());
  expect(y.shape).toEqual([1, 1, 2, 3]);
  tf.dispose([x, y]);
  return out;
};
const close = (a: number[], b: number[]) => a.forEach((v, i) => expect(v).toBeCloseTo(b[i]!, 4));

describe('preprocessInput', () => {
  it("'caffe': RGB -> BGR, minus the ImageNet BGR mean", () => {
    close(run('caffe'), [
      255 - 103.939, 128 - 116.779, 0 - 123.68,
      30 - 103.939, 20 - 116.779, 10 - 123.68,
    ]);
  });

  it("'tf': x / 127.5 - 1", () => {
    close(run('tf'), [-1, 128 / 127.5 - 1, 1, 10 / 127.5 - 1, 20 / 127.5 - 1, 30 / 127.5 - 1]);
  });

  it("'rescale01': x / 255", () => {
    close(run('rescale01'), [0, 128 / 255, 1, 10 / 255, 20 / 255, 30 / 255]);
  });

  it("'none': unchanged values in a new tensor", () => {
    const x = pixels();
    const y = preprocessInput(x, 'none');
    expect(y).not.toBe(x);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([0, 128, 255, 10, 20, 30]);
    y.dispose();
  });

  it('accepts int32 input and leaks no tensors', () => {
    const x = tf.tensor4d([0, 128, 255], [1, 1, 1, 3], 'int32');
    const before = tf.memory().numTensors;
    const y = preprocessInput(x, 'tf');
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(y.dtype).toBe('float32');
    tf.dispose([x, y]);
  });

  it('rejects non-RGB batches and unknown specs', () => {
    const gray = tf.zeros([1, 2, 2, 1]) as tf.Tensor4D;
    expect(() => preprocessInput(gray, 'tf')).toThrow(/expected \[batch, height, width, 3\] RGB images, got shape \[1, 2, 2, 1\]/);
    const x = pixels();
    expect(() => preprocessInput(x, 'torch' as never)).toThrow(/unknown preprocess spec "torch"/);
    tf.dispose([gray, x]);
  });
});
