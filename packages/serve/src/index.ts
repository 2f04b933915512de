export { createServer, defaultWorkers } from './server';
export type { PartsServer, PredictResponse, ServerOptions, ServerStats } from './server';
export type { ModelInfo } from './model-source';
export type { EngineStats, SlotStats } from './engine';
export type { ErrorBody } from './errors';
export { binomialUpperTail, DriftMonitor, expectedUnknownRate } from './drift';
export type { DriftOptions, DriftStatus } from './drift';
