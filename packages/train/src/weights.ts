// Which weights the base starts from: ImageNet (cache or official download), a Keras .h5 file
// given by path, or none (random init). Scratch mode and Tiny VGG always start from random init.
import { applyWeightsChoice, getArch, type BuiltClassifier } from '@parts/models';
import type { ResolvedTrainOptions } from './options';

export async function loadBaseWeights(
  arch: string,
  o: ResolvedTrainOptions,
  built: BuiltClassifier,
  log: (m: string) => void,
): Promise<string> {
  const spec = getArch(arch);
  if (o.mode === 'scratch' || !spec.pretrained || o.weights === 'none') return 'none';
  if (!spec.weights || !built.convBase) throw new Error(`arch ${spec.name} has no pretrained weights to load`);
  const r = await applyWeightsChoice(built.convBase, o.weights, { arch: spec.name, ...spec.weights, log });
  const desc = r.source === 'file' ? `file ${r.h5Path}` : `imagenet (${spec.weights.fileName}, from ${r.source})`;
  log(`weights: ${desc}`);
  return desc;
}
