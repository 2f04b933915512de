// Minimal placeholder: wasm then cpu. The full fallback chain lives in select.ts (WIP).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendInfo, BackendName } from './types';
export type * from './types';

export async function initBackend(requested: BackendName = 'auto', log: (m: string) => void = (m) => console.error(m)): Promise<BackendInfo> {
  const order = requested === 'auto' ? ['wasm', 'cpu'] : [requested];
  const tried: BackendInfo['tried'] = [];
  for (const name of order) {
    try {
      if (await tf.setBackend(name)) {
        await tf.ready();
        const info: BackendInfo = { requested, name: tf.getBackend(), device: 'CPU', tried };
        log(`backend: ${info.name} (${info.device})`);
        return info;
      }
      tried.push({ backend: name, error: 'setBackend returned false' });
    } catch (e) {
      tried.push({ backend: name, error: (e as Error).message });
    }
  }
  throw new Error(`no TensorFlow.js backend could start: ${tried.map((t) => `${t.backend}: ${t.error}`).join('; ')}`);
}
