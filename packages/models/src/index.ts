export type * from './types';
export * from './weights/index';
