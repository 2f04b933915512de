// Loads the oneDNN addon (native/onednn, built by scripts/setup.sh with node-gyp where Debian's
// libdnnl-dev is installed) and says why when it cannot: not built, switched off (PARTS_ONEDNN=0),
// or failing to load (another OS, a missing libdnnl.so). Everything that uses it falls back to the
// wasm kernels then. On by default where it is built: trained on it, the accuracy gate's
// leave-classes-out check over six seeds falls within the wasm kernels' spread (README, oneDNN
// kernels); the gate's other tasks run on it in CI against baselines measured on the wasm kernels.
//
// oneDNN runs on OpenMP here, and libgomp reads its wait policy once, from the environment, when it
// is loaded: with its default (threads spin for a while after each parallel region) two processes on
// a shared machine slow each other down several times over. So unless the user chose a policy,
// OMP_WAIT_POLICY=PASSIVE is set before the addon (and with it libgomp) is loaded. The thread count
// is set per call to the wasm backend's own count (setThreads).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { envSetting, setEnvSetting } from '@parts/cli';

/** The addon's functions; offsets are byte offsets into `heap`, the wasm backend's HEAPU8. */
export interface OnednnAddon {
  /** geometry: N, H, W, C, OH, OW, OC, fH, fW, sH, sW, dH, dW, padT, padL, padB, padR; offsets: x, filter, bias (-1: none), y. */
  convForward(heap: Uint8Array, geometry: Float64Array, offsets: Float64Array, relu: boolean): void;
  /** offsets: dy, filter, dx. */
  convBackwardData(heap: Uint8Array, geometry: Float64Array, offsets: Float64Array): void;
  /** offsets: x, dy, dw. */
  convBackwardWeights(heap: Uint8Array, geometry: Float64Array, offsets: Float64Array): void;
  /** dims: batchA, batchB, M, K, N, transposeA, transposeB; offsets: a, b, bias (-1: none), c. */
  matMul(heap: Uint8Array, dims: Float64Array, offsets: Float64Array, relu: boolean): void;
  /** geometry: N, H, W, C, OH, OW, fH, fW, sH, sW, padT, padL, padB, padR; offsets: x, dy, dx. */
  maxPoolGrad(heap: Uint8Array, geometry: Float64Array, offsets: Float64Array): void;
  setThreads(n: number): void;
  /** Later 3×3 stride-1 convolutions with channels in multiples of 16 run as Winograd F(4,3) where oneDNN has it (AVX-512). Absent in an addon built before it. */
  setWinograd?(on: boolean): void;
  info(): { version: string; isa: string };
}

export interface OnednnStatus {
  addon: OnednnAddon | null;
  /** e.g. 'oneDNN 2.6.3 (AVX-512 BF16), OpenMP wait policy PASSIVE', or why it is not loaded. */
  detail: string;
}

/** Where node-gyp puts the addon. */
export function onednnAddonPath(): string {
  return fileURLToPath(new URL('../../native/onednn/build/Release/parts_onednn.node', import.meta.url));
}

let status: OnednnStatus | null = null;

/** The addon, or null with the reason; loaded once per thread unless PARTS_ONEDNN=0 turns it off. */
export function loadOnednn(): OnednnStatus {
  if (status) return status;
  status = load();
  return status;
}

function load(): OnednnStatus {
  if (envSetting('PARTS_ONEDNN') === false) return { addon: null, detail: 'switched off by PARTS_ONEDNN=0' };
  const file = onednnAddonPath();
  if (!fs.existsSync(file)) {
    return { addon: null, detail: 'addon not built (scripts/setup.sh builds it where libdnnl-dev is installed)' };
  }
  if (envSetting('OMP_WAIT_POLICY') === undefined) setEnvSetting('OMP_WAIT_POLICY', 'PASSIVE');
  try {
    const addon = createRequire(import.meta.url)(file) as OnednnAddon;
    const { version, isa } = addon.info();
    return { addon, detail: `oneDNN ${version} (${isa}), OpenMP wait policy ${envSetting('OMP_WAIT_POLICY')}` };
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0]!.trim();
    return { addon: null, detail: `addon did not load: ${msg}` };
  }
}
