// Which weights the base starts from: ImageNet (cache or official download), a Keras .h5 file
// given by path, or none (random init).
import type { buildClassifier } from '@parts/models';
import type { ResolvedTrainOptions } from './options';

export async function loadBaseWeights(
  arch: string,
  o: ResolvedTrainOptions,
  built: ReturnType<typeof buildClassifier>,
  log: (m: string) => void,
): Promise<string> {
  void arch;
  void built;
  void log;
  if (o.mode === 'scratch' || o.weights === 'none') return 'none';
  throw new Error(`weights '${o.weights}' are not wired yet`);
}
