// Asks Dawn for a WebGPU adapter in a child process, so that whatever Dawn prints from native code
// (e.g. "Warning: Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file") is captured
// as evidence for the report instead of reaching the user's terminal, and a crashing driver cannot
// take the diagnosis down with it.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { processEnv } from '@parts/cli';

export interface WebGPUAdapterFacts {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** Software rasteriser (lavapipe/llvmpipe, SwiftShader): slower than wasm. */
  software: boolean;
}

export type WebGPUProbeResult =
  | { status: 'not-installed'; reason: string }
  | { status: 'no-adapter'; dawnOutput: string }
  | { status: 'adapter'; adapter: WebGPUAdapterFacts; dawnOutput: string }
  | { status: 'error'; reason: string; dawnOutput: string };

/** Same rule as the backend's WebGPU set-up (packages/backend/src/webgpu/setup.ts). */
export const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|software|cpu/i;

const CHILD = `
const m = await import(process.argv[1]);
const gpu = m.create([]);
const a = await gpu.requestAdapter({ powerPreference: 'high-performance' });
const i = a?.info ?? {};
process.stdout.write('\\nADAPTER ' + JSON.stringify(a ? { vendor: i.vendor ?? '', architecture: i.architecture ?? '', device: i.device ?? '', description: i.description ?? '', fallback: Boolean(a.isFallbackAdapter) } : null) + '\\n');
process.exit(0);
`;

/** Dawn's output without blank lines and source locations, e.g. "Warning: Couldn't load Vulkan: ...". */
export function cleanDawnOutput(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('at '))
    .join('\n');
}

/** `repoRoot`: where packages/backend is (the `webgpu` package is its optional dependency). */
export async function probeWebGPUAdapter(repoRoot: string, env: NodeJS.ProcessEnv = processEnv() as NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<WebGPUProbeResult> {
  let entry: string;
  try {
    entry = createRequire(path.join(repoRoot, 'packages', 'backend', 'package.json')).resolve('webgpu');
  } catch (e) {
    return { status: 'not-installed', reason: (e as Error).message.split('\n')[0]! };
  }
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', CHILD, pathToFileURL(entry).href],
      { env, timeout: timeoutMs, maxBuffer: 4 << 20 },
      (err, stdout, stderr) => {
        const marker = stdout.split('\n').find((l) => l.startsWith('ADAPTER '));
        const dawnOutput = cleanDawnOutput(`${stdout.split('\n').filter((l) => !l.startsWith('ADAPTER ')).join('\n')}\n${stderr}`);
        if (!marker) {
          resolve({ status: 'error', reason: err ? err.message.split('\n')[0]! : 'the probe printed no result', dawnOutput });
          return;
        }
        const a = JSON.parse(marker.slice('ADAPTER '.length)) as (Omit<WebGPUAdapterFacts, 'software'> & { fallback: boolean }) | null;
        if (!a) {
          resolve({ status: 'no-adapter', dawnOutput });
          return;
        }
        const software = a.fallback || SOFTWARE_ADAPTER.test(`${a.vendor} ${a.architecture} ${a.description}`);
        resolve({ status: 'adapter', adapter: { vendor: a.vendor, architecture: a.architecture, device: a.device, description: a.description, software }, dawnOutput });
      },
    );
  });
}
