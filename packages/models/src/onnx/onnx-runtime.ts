/**
 * onnxruntime-node, loaded on first use. It is an optional dependency (its CPU library ships inside
 * the npm package for Linux x64/arm64, Windows and Apple-silicon macOS), so a missing package or a
 * library that cannot load on this machine is a reason, never a crash: callers fall back to tfjs.
 *
 * Sessions never spin: ONNX Runtime's thread pools busy-wait between ops by default, which on a
 * shared machine burns the cores other processes need; `allow_spinning = 0` on both pools makes
 * idle threads sleep. One intra-op pool sized to the cores, no inter-op parallelism (the graphs are
 * chains of convolutions).
 */
import os from 'node:os';
import type * as Ort from 'onnxruntime-node';

export type OrtModule = typeof Ort;

export type RuntimeProbe = { ok: true; ort: OrtModule; version: string } | { ok: false; reason: string };

let cached: Promise<RuntimeProbe> | null = null;

/** onnxruntime-node, imported once per thread. */
export function loadOnnxRuntime(): Promise<RuntimeProbe> {
  cached ??= probeOnnxRuntime(() => import('onnxruntime-node'));
  return cached;
}

/** Imports the runtime through `importer` (tests pass one that fails); never throws. */
export async function probeOnnxRuntime(importer: () => Promise<unknown>): Promise<RuntimeProbe> {
  try {
    const mod = (await importer()) as OrtModule & { default?: OrtModule };
    const ort = (mod.InferenceSession ? mod : mod.default) as OrtModule | undefined;
    if (!ort?.InferenceSession) return { ok: false, reason: 'onnxruntime-node loaded without an InferenceSession' };
    return { ok: true, ort, version: ort.env?.versions?.common ?? 'unknown' };
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    return { ok: false, reason: /Cannot find (package|module)/.test(msg) ? 'onnxruntime-node is not installed' : `onnxruntime-node cannot load here: ${msg}` };
  }
}

/** Session options for a shared CPU machine: `threads` intra-op threads (default: the cores), no spinning. */
export function onnxSessionOptions(threads = os.availableParallelism()): Ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: Math.max(1, Math.floor(threads)),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
}
