export * from './options';
export * from './train';
export * from './predict';
export * from './fit-loop';
export * from './loss';
export * from './run-folder';
export * from './image-set';
export { formatEpoch } from './progress';
