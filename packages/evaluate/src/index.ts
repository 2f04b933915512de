// @parts/evaluate: metrics, per-run evaluation, charts, reports, promotion to serve, the study
// pipeline and the CI accuracy gate.
export * from './metrics';
export * from './evaluation';
export * from './charts';
export { chartFontFamily } from './fonts';
export * from './gallery';
export * from './leaderboard';
export * from './report';
export * from './pipeline';
export * from './promote';
export * from './check';
export * from './study';
export * from './robustness';
export * from './robustness-chart';
export * from './ood-metrics';
export * from './ood-holdout';
export * from './ood-study';
export * from './robustness-budget';
export * from './ood-evaluation';
export * from './gradcam-gallery';
export * from './ood-check';
export * from './mcnemar';
export * from './model-history';
export * from './retrain';
