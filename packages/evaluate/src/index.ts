// @parts/evaluate: metrics, per-run evaluation, charts, reports, promotion to serve, the study
// pipeline and the CI accuracy gate.
// Named exports: what other packages (and the tests) use; everything else stays inside the package.
export { EVALUATION_FORMAT, evaluatePredictions, evaluateRun } from './evaluation';
export type { Evaluation } from './evaluation';
export { chartFontFamily } from './fonts';
export { writeReport } from './report';
export { checkAgainstBaseline, checkSeedMean, readBaseline } from './check';
export { evaluateRobustness, robustnessTableHtml } from './robustness';
export { robustnessChartPng } from './robustness-chart';
export { makeHoldoutDataset } from './ood-holdout';
export { makeSubsetDataset, type SubsetSpec } from './subset-dataset';
export { checkOodFigures, checkOodSeedMean, measureLeaveOut, runMatchesOodTask } from './ood-check';
