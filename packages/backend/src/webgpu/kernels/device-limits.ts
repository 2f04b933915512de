// What a WebGPU device allows a compute program, and the one check every kernel family makes
// against it before launching a variant (the autotuner, the numeric check, the microbenchmark).

/** WebGPU's guaranteed limit of workgroups per dispatch dimension. */
export const MAX_WORKGROUPS_PER_DIM = 65535;

/** The device limits a kernel variant can exceed (a GPUSupportedLimits has both). */
export interface ComputeLimits {
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
}

/**
 * Why a program needing `storage` bytes of workgroup memory and `invocations` per workgroup
 * cannot run under `limits`, or null where it can.
 */
export function exceedsLimits(storage: number, invocations: number, limits: ComputeLimits): string | null {
  if (storage > limits.maxComputeWorkgroupStorageSize) return `needs ${storage} bytes of workgroup memory, the device allows ${limits.maxComputeWorkgroupStorageSize}`;
  if (invocations > limits.maxComputeInvocationsPerWorkgroup) return `needs ${invocations} invocations per workgroup, the device allows ${limits.maxComputeInvocationsPerWorkgroup}`;
  return null;
}
