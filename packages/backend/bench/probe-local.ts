import * as tf from '@tensorflow/tfjs-core';
import '@parts/backend';
import { setupWebGPU } from '../src/webgpu/index';
const d = await setupWebGPU();
console.log(d);
await tf.setBackend('webgpu'); await tf.ready();
const a = tf.randomNormal([64, 64]); const b = tf.matMul(a, a);
console.log(tf.getBackend(), (await b.data()).slice(0, 3));
