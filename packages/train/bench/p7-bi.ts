import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@parts/backend';
await initBackend('wasm', (m) => console.log(m));
const dy = tf.randomUniform([16, 32, 32, 64]) as tf.Tensor4D;
const w = tf.randomUniform([3, 3, 64, 64]) as tf.Tensor4D;
for (let r = 0; r < 2; r++) {
let t0 = Date.now(); for (let i = 0; i < 5; i++) { const o = tf.conv2d(dy, w, 1, 'same'); await o.data(); o.dispose(); } console.log('fwd', (Date.now() - t0) / 5);
t0 = Date.now(); for (let i = 0; i < 5; i++) { const o = tf.conv2dTranspose(dy, w, [16, 32, 32, 64], 1, 'same'); await o.data(); o.dispose(); } console.log('bwd-input', (Date.now() - t0) / 5);
}
