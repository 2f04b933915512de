// Out-of-distribution detection and calibration: features, scorers, threshold, temperature scaling,
// the ood.json file and the prediction contract. See docs/ood.md.
export * from './features';
export * from './scorers';
export * from './threshold';
export * from './calibration';
export * from './ood-file';
export * from './decide';
export * from './predictor';
export * from './silhouette-scorer';
export { cholesky, spdInverse } from './linalg';
