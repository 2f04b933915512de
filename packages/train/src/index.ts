// Named exports: what other packages (and the tests) use; everything else stays inside the package.
export { DEFAULT_ARCH, TRAIN_DEFAULTS, resolveTrainOptions } from './options';
export type { TrainOptions } from './options';
export { train } from './train';
export { applyRecipe, chooseRecipe, formatRecipe, profileTrainingSplit, FRAME_FILLING_CANDIDATE_SIZE, MIN_EPOCHS, PROFILE_SAMPLE } from './data-recipe';
export type { DataKind, DataProfile, DataRecipe, RecipeChoice } from './data-recipe';
export type { TrainResult } from './train';
export { crossValidate, formatCvResult, summarize } from './cross-validate';
export { stratifiedFolds, applyFold, type FoldSpec } from './folds';
export { wilson95 } from './wilson';
export { expandInputs, formatPredictionLine, predictFiles } from './predict';
export type { FilePrediction } from './predict';
export { RUN_FILES, listRunDirs, readRun, readRunConfig, runListOptions, runModelDir, splitCountChanges, datasetChangesSinceTraining } from './run-folder';
export type { HistoryEpoch, RunConfigFile, RunMetrics } from './run-folder';
export { formatEpoch } from './progress';
export { detectorGroups, fitAndWriteOod, formatOodFit, imagesPerPhoto, repeatEach, variantsText, withVariants, type DetectorVariants, type OodFitResult } from './ood-fit';
