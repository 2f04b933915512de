/**
 * Which engine runs the forward pass. 'tfjs' always works. 'onnx' needs onnxruntime-node and says
 * why when it cannot load. 'auto' prefers ONNX Runtime (native CPU kernels, faster and far smaller
 * than tfjs on wasm) unless the tfjs backend in use is WebGPU (a GPU beats the CPU) or the runtime
 * cannot load here; the reason is kept so diagnose, predict and serve can say it.
 */
import type { EngineName, EngineRequest } from '../ood/predictor';
import { loadOnnxRuntime, type OrtModule, type RuntimeProbe } from './onnx-runtime';
import { ENGINE_NAMES } from '@parts/cli';

/** The engines, listed once in the settings schema (@parts/cli). */
export const ENGINE_REQUESTS: readonly EngineRequest[] = ENGINE_NAMES;

export type EngineChoice = { name: 'onnx'; ort: OrtModule; reason: string } | { name: 'tfjs'; reason: string };

export interface EngineChoiceContext {
  /** The tfjs backend initialised (or asked for) in this thread. */
  backend?: string;
  /** How the runtime is probed (tests pass a failing one); default: import onnxruntime-node. */
  probe?: () => Promise<RuntimeProbe>;
}

/** Throws only for --engine onnx where ONNX Runtime cannot load (and for an unknown request). */
export async function chooseEngine(requested: EngineRequest, ctx: EngineChoiceContext = {}): Promise<EngineChoice> {
  if (!ENGINE_REQUESTS.includes(requested)) throw new Error(`unknown engine ${JSON.stringify(requested)}; expected one of ${ENGINE_REQUESTS.join(', ')}`);
  if (requested === 'tfjs') return { name: 'tfjs', reason: 'asked for (--engine tfjs)' };
  if (requested === 'auto' && ctx.backend === 'webgpu') return { name: 'tfjs', reason: 'auto: the tfjs backend is webgpu (a GPU); ONNX Runtime runs on the CPU here' };
  const rt = await (ctx.probe ?? loadOnnxRuntime)();
  if (rt.ok) return { name: 'onnx', ort: rt.ort, reason: requested === 'onnx' ? 'asked for (--engine onnx)' : `auto: ONNX Runtime ${rt.version} loads here (native CPU kernels)` };
  if (requested === 'onnx') throw new Error(`--engine onnx: ${rt.reason}; install it (pnpm install with ONNXRUNTIME_NODE_INSTALL=skip) or use --engine tfjs`);
  return { name: 'tfjs', reason: `auto: ${rt.reason}; using tfjs` };
}

export function isEngineRequest(v: string): v is EngineRequest {
  return (ENGINE_REQUESTS as readonly string[]).includes(v);
}

export type { EngineName };
