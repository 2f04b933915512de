import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@parts/backend';
import { loadPredictor, predictDecisions, type Predictor } from '@parts/models';
import { decideAndExplain } from './model-work';
import type { FromWorker, ToWorker } from './worker-protocol';

/** One model per worker thread; requests are answered one at a time, in order. */
const port = parentPort!;
let model: Predictor | null = null;

function reply(m: FromWorker): void {
  port.postMessage(m);
}

async function handle(m: ToWorker): Promise<void> {
  try {
    switch (m.type) {
      case 'init': {
        const info = await initBackend(m.backend, () => {});
        model = await loadPredictor(m.dir, m.unknown);
        const size = model.meta.imgSize;
        const t0 = performance.now();
        await predictDecisions(model, [{ data: new Uint8Array(size * size * 3), width: size, height: size }]);
        reply({ type: 'ready', id: m.id, backend: info.name, warmupMs: performance.now() - t0, ood: model.ood });
        return;
      }
      case 'predict': {
        if (!model) throw new Error('worker has no model yet');
        const t0 = performance.now();
        const out = await decideAndExplain(model, m.images, m.explain);
        reply({ type: 'result', id: m.id, ...out, predictMs: performance.now() - t0 });
        return;
      }
      case 'stats':
        reply({ type: 'stats', id: m.id, numTensors: tf.memory().numTensors, heapUsed: process.memoryUsage().heapUsed });
        return;
    }
  } catch (e) {
    reply({ type: 'error', id: m.id, message: (e as Error).message ?? String(e) });
  }
}

// Serialise: tfjs backends are not re-entrant across awaits for our purposes, and the
// engine only sends one predict at a time per worker anyway.
let chain = Promise.resolve();
port.on('message', (m: ToWorker) => {
  chain = chain.then(() => handle(m));
});
