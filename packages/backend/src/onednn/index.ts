// Puts the oneDNN kernels (kernels.ts) on the running wasm backend where the addon loads (addon.ts),
// and remembers what happened for the start-up line and `pnpm diagnose`.
import { loadOnednn } from './addon';
import { onednnKernelsRegistered, registeredOnednnKernels, registerOnednnKernels, unregisterOnednnKernels, winogradOn } from './kernels';

export { loadOnednn, onednnAddonPath, type OnednnAddon, type OnednnStatus } from './addon';
export { ONEDNN_KERNELS, unregisterOnednnKernels, winogradOn } from './kernels';

export interface OnednnKernelsState {
  /** True while the oneDNN kernels are registered on the wasm backend. */
  active: boolean;
  /** The library and ISA with the OpenMP wait policy, or why the wasm kernels run instead. */
  detail: string;
  /** The kernels oneDNN runs while active (tfjs kernel names); the wasm backend's own run the rest. */
  kernels: string[];
}

let state: OnednnKernelsState = { active: false, detail: 'the wasm backend has not started', kernels: [] };

/** Registers the oneDNN kernels over the wasm backend's (running on `threads` OpenMP threads); returns the kernels registered now. */
export function startOnednnKernels(threads: number): string[] {
  const { addon, detail } = loadOnednn();
  if (addon == null) {
    state = { active: false, detail, kernels: [] };
    return [];
  }
  const added = registerOnednnKernels(addon, threads);
  const wino =
    addon.setWinograd == null
      ? ''
      : !winogradOn()
        ? ', Winograd off (PARTS_ONEDNN_WINOGRAD=0)'
        : /AVX-512/.test(addon.info().isa)
          ? ', Winograd for 3×3 stride-1 convolutions with channels in multiples of 16'
          : ', no Winograd kernels on this CPU (oneDNN has them for AVX-512)';
  state = { active: true, detail: `${detail}, ${threads} thread${threads === 1 ? '' : 's'}${wino}`, kernels: registeredOnednnKernels() };
  return added;
}

/** Puts the wasm kernels back (benchmarks compare the two in one process). */
export function stopOnednnKernels(): void {
  unregisterOnednnKernels();
  state = { active: false, detail: 'switched off in this process', kernels: [] };
}

/** Whether the oneDNN kernels run now, and why not. */
export function onednnKernelsState(): OnednnKernelsState {
  const active = state.active && onednnKernelsRegistered();
  return { ...state, active, kernels: active ? registeredOnednnKernels() : [] };
}
