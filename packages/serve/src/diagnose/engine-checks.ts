// Which engine `--engine auto` runs the forward pass on (predict, evaluate, serve), and why.
import { chooseEngine, type RuntimeProbe } from '@parts/models';
import type { Check } from './types';

/**
 * ONNX Runtime where it loads (auto prefers it on CPU), else tfjs on `backend` with the reason. Only
 * informational: tfjs always works, and Grad-CAM uses tfjs on either engine.
 */
export async function checkEngine(probe: () => Promise<RuntimeProbe>, backend: { name: string } | null): Promise<Check> {
  const rt = await probe();
  const choice = await chooseEngine('auto', { backend: backend?.name, probe: async () => rt });
  const details = { engine: choice.name, reason: choice.reason, onnxRuntime: rt.ok ? { loads: true, version: rt.version } : { loads: false, reason: rt.reason } };
  if (choice.name === 'onnx') {
    return { id: 'engine', title: 'engine', verdict: 'ok', summary: `ONNX Runtime ${rt.ok ? rt.version : ''} on CPU runs the forward pass (--engine auto); Grad-CAM uses tfjs`, details };
  }
  return {
    id: 'engine',
    title: 'engine',
    verdict: 'info',
    summary: `tfjs${backend ? ` on ${backend.name}` : ''} runs the forward pass: ${choice.reason}`,
    ...(rt.ok ? {} : { fix: 'ONNX Runtime (faster on CPU, less memory): `ONNXRUNTIME_NODE_INSTALL=skip pnpm install`; it ships for Linux x64/arm64, Windows and Apple-silicon macOS' }),
    details,
  };
}
