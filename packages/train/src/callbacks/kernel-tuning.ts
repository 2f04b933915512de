// GPU kernel tuning: an autotuning backend (WebGPU) must see the first training step's shapes
// before it times anything, and the last partial batch's and validation's by the end of epoch 1.
// `tune` is awaited after step 1 (once its figures are read, so the GPU has finished it) and after
// epoch 1's validation; later epochs run tuned, with no more pauses. Tuning time is left out of
// the epoch's timeMs (the backend logs it by itself).
import type { FitCallback } from './callback';

export function kernelTuningCallback(tune: () => Promise<unknown>): FitCallback {
  return {
    // Not async: the other steps return nothing, which keeps the batch loop free of waits.
    onBatchEnd(s) {
      if (s.step === 1) return s.readFigures().then(() => s.untimed(tune));
    },
    onValidateEnd(s) {
      if (s.epoch === 1) return s.untimed(tune);
    },
  };
}
