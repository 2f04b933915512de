import type { FitPolicy } from '@parts/data';
import type { LightNormName } from '@parts/cli';
import type { TrainMode } from './modes';

/**
 * Input preprocessing, identical to Keras `preprocess_input` for each family:
 * - 'rescale01': x / 255 (Tiny VGG and our from-scratch nets)
 * - 'caffe': RGB->BGR, subtract ImageNet BGR mean (VGG16, ResNet50)
 * - 'tf': x / 127.5 - 1 (InceptionV3)
 * - 'none': raw 0..255 floats; the model normalises itself (EfficientNet)
 */
export type PreprocessSpec = 'rescale01' | 'caffe' | 'tf' | 'none';


/**
 * Written as classifier.json next to model.json in every saved model folder (a run's
 * model/ and the promoted packages/serve/model/). Everything predict/serve need to feed
 * the model exactly as training did.
 */
export interface ClassifierMeta {
  format: 'parts-classifier/1';
  arch: string;
  mode: TrainMode;
  labels: string[];
  imgSize: number;
  fit: FitPolicy;
  preprocess: PreprocessSpec;
  /**
   * Per-photo light normalisation applied before `preprocess` (data/src/light-norm.ts). Absent in
   * files written before it existed: read as 'none', so those models are fed as they were trained.
   */
  lightNorm?: LightNormName;
  /** 'sigmoid' = one output unit giving p(labels[1]); 'softmax' = one unit per label. */
  outputActivation: 'sigmoid' | 'softmax';
  runId?: string;
}

export interface Prediction {
  label: string;
  /** Probability per label, summing to 1. */
  probabilities: Record<string, number>;
}
