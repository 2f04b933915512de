// The wasm backend's heap is 32-bit and tfjs' JS side breaks past 2 GB ("memory access out of
// bounds"), so big batches of big images (Tiny VGG at 256 px keeps ~150 MB per image for its
// backward pass) are trained in micro-batches that fit a budget.
import type * as tfl from '@tensorflow/tfjs-layers';

/** Floats in all layer outputs for one image (nested models included). */
export function activationFloatsPerImage(model: tfl.LayersModel): number {
  let total = 0;
  for (const layer of model.layers) {
    const nested = layer as unknown as tfl.LayersModel;
    if (Array.isArray(nested.layers)) {
      total += activationFloatsPerImage(nested);
      continue;
    }
    const shapes = (Array.isArray(layer.outputShape[0]) ? layer.outputShape : [layer.outputShape]) as (number | null)[][];
    for (const shape of shapes) total += shape.slice(1).reduce<number>((p, d) => p * (d ?? 1), 1);
  }
  return total;
}

/**
 * Largest micro-batch whose training memory fits the budget, or undefined when the whole batch
 * fits. Training keeps about four float32 copies of the activations (outputs, their gradients,
 * activation masks and temporaries).
 */
export function microBatchFor(model: tfl.LayersModel, batchSize: number, budgetBytes = 1e9): number | undefined {
  const perImage = activationFloatsPerImage(model) * 4 * 4;
  const fits = Math.max(1, Math.floor(budgetBytes / perImage));
  return fits < batchSize ? fits : undefined;
}
