import { describe, expect, it } from 'vitest';
import { formatBench, wasmSimdCeiling, wasmSimdFlopPerCycle } from '../src/bench';

describe('the wasm SIMD peak the benchmark reports against', () => {
  it('counts separate multiply and add pipes on AMD Zen, shared ports on Intel and unknown CPUs', () => {
    expect(wasmSimdFlopPerCycle('AuthenticAMD')).toBe(16);
    expect(wasmSimdFlopPerCycle('GenuineIntel')).toBe(8);
    expect(wasmSimdFlopPerCycle(null)).toBe(8);
    expect(wasmSimdCeiling(2, 3, 16)).toBe(96);
  });

  it('prints the share of the peak beside the throughput', () => {
    const line = formatBench({
      backend: 'wasm', model: 'partsnet', phase: 'train', imgSize: 128, batch: 16, imagesPerSec: 40,
      gflopsPerSec: 48, ceilingShare: 48 / wasmSimdCeiling(2, 3, 16),
    } as Parameters<typeof formatBench>[0]);
    expect(line).toMatch(/40\.00 img\/s\s+48\.00 GFLOP\/s \(50% of SIMD peak\)/);
  });
});
