export { runDiagnose, formatReport, exitCode } from './diagnose';
export { realProbes, type DiagnoseProbes, type OptionalPackageProbe, type BackendStart, type ModelProbe, type PretrainedFile } from './probes';
export { probeWebGPUAdapter, cleanDawnOutput, type WebGPUProbeResult, type WebGPUAdapterFacts } from './webgpu-probe';
export { satisfies, pinnedPnpm } from './runtime-checks';
export type { Check, DiagnoseReport, Verdict } from './types';
