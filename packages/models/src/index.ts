export type * from './types';
export * from './weights/index';
export * from './model-files';
export * from './classifier';
