// Each compute backend, the Vulkan loader under WebGPU, and which backend `--backend auto` picks.
import { findVulkanDrivers, findVulkanLoader, vulkanUnavailableReason, VULKAN_LOADER } from '@parts/backend';
import type { DiagnoseProbes, OptionalPackageProbe } from './probes';
import type { Check, Verdict } from './types';
import type { WebGPUProbeResult } from './webgpu-probe';

export interface BackendChecks {
  checks: Check[];
  backend: { name: string; device: string } | null;
}

function tfjsNodeCheck(pkg: 'tfjs-node-gpu' | 'tfjs-node', r: OptionalPackageProbe): Check {
  const id = `backend:${pkg}`;
  const what = pkg === 'tfjs-node-gpu' ? 'libtensorflow with CUDA' : 'libtensorflow for the CPU';
  if (!r.installed) {
    return {
      id,
      title: pkg,
      verdict: 'info',
      summary: `not installed (optional): its install script downloads ${what}, which failed or was skipped (offline, or the platform has no build)`,
      fix:
        pkg === 'tfjs-node-gpu'
          ? 'only for NVIDIA GPUs with CUDA 11.x and cuDNN 8: `pnpm install` with internet access; WebGPU needs neither'
          : 'optional (wasm is the CPU backend otherwise): `pnpm install` with internet access',
      details: { installed: false, error: r.error },
    };
  }
  if (r.error) {
    return {
      id,
      title: pkg,
      verdict: 'warn',
      summary: `installed but does not load: ${r.error}`,
      fix: pkg === 'tfjs-node-gpu' ? 'check the CUDA 11.x and cuDNN 8 libraries (LD_LIBRARY_PATH), or `pnpm install` again' : '`pnpm install` again (its libtensorflow download may be incomplete)',
      details: { installed: true, error: r.error },
    };
  }
  return { id, title: pkg, verdict: 'ok', summary: `loads (${what})`, details: { installed: true } };
}

/** The first line Dawn printed that says why, e.g. "Warning: Couldn't load Vulkan: libvulkan.so.1: cannot open ...". */
function dawnSaid(r: WebGPUProbeResult): string | undefined {
  if (!('dawnOutput' in r) || !r.dawnOutput) return undefined;
  const lines = r.dawnOutput.split('\n');
  return lines.find((l) => /vulkan|driver|adapter/i.test(l)) ?? lines[0];
}

function vulkanCheck(p: DiagnoseProbes, gpu: boolean, webgpu: WebGPUProbeResult): Check {
  if (p.vulkan.platform !== 'linux') return { id: 'vulkan', title: 'Vulkan loader', verdict: 'info', summary: `not used on ${p.vulkan.platform} (Dawn uses the platform's own GPU API)` };
  const loader = findVulkanLoader(p.vulkan);
  const drivers = findVulkanDrivers(p.vulkan);
  const evidence = dawnSaid(webgpu);
  const details = { loader, drivers, dawn: evidence ?? null, gpuDevice: gpu };
  if (!loader) {
    return {
      id: 'vulkan',
      title: 'Vulkan loader',
      verdict: gpu ? 'warn' : 'info',
      summary: `${VULKAN_LOADER} not found (ld.so.cache, LD_LIBRARY_PATH)${evidence ? `; Dawn: ${evidence.replace(/^Warning:\s*/, '')}` : ''}`,
      fix: gpu
        ? 'Debian/Ubuntu: `sudo apt-get install libvulkan1` (and a GPU driver with Vulkan support)'
        : 'no GPU here, so nothing to do (wasm is used); with a GPU: `sudo apt-get install libvulkan1`',
      details,
    };
  }
  if (!drivers.length) {
    return {
      id: 'vulkan',
      title: 'Vulkan loader',
      verdict: gpu ? 'warn' : 'info',
      summary: `${loader}, but no Vulkan driver (ICD manifest) is registered`,
      fix: gpu
        ? "install the GPU driver's Vulkan part (NVIDIA: its nvidia_icd.json; AMD/Intel: `apt-get install mesa-vulkan-drivers`), or point VK_DRIVER_FILES at the driver's .json"
        : 'no GPU here, so nothing to do (wasm is used)',
      details,
    };
  }
  return { id: 'vulkan', title: 'Vulkan loader', verdict: 'ok', summary: `${loader}; driver${drivers.length > 1 ? 's' : ''}: ${drivers.join(', ')}`, details };
}

function webgpuCheck(p: DiagnoseProbes, gpu: boolean, r: WebGPUProbeResult): Check {
  const id = 'backend:webgpu';
  const title = 'WebGPU';
  const soft: Verdict = gpu ? 'warn' : 'info';
  switch (r.status) {
    case 'not-installed':
      return { id, title, verdict: 'info', summary: "the optional 'webgpu' package (Dawn for Node) is not installed", fix: '`pnpm install`', details: { status: r.status, reason: "the optional 'webgpu' package is not installed", error: r.reason } };
    case 'error':
      return { id, title, verdict: 'warn', summary: `the adapter probe failed: ${r.reason}${dawnSaid(r) ? `; Dawn: ${dawnSaid(r)}` : ''}`, fix: '`pnpm diagnose --json` shows all of Dawn\'s output (details.dawn)', details: { status: r.status, reason: `the adapter probe failed (${r.reason})`, error: r.reason, dawn: r.dawnOutput } };
    case 'no-adapter': {
      const dawn = dawnSaid(r);
      const why = vulkanUnavailableReason(p.vulkan) ?? `Dawn found no adapter${dawn ? ` (${dawn.replace(/^Warning:\s*/, '')})` : ''}`;
      return {
        id,
        title,
        verdict: soft,
        summary: `unavailable: ${why}`,
        fix: gpu ? 'see the Vulkan loader line' : 'none needed without a GPU: `--backend auto` uses the CPU backend',
        details: { status: r.status, reason: why, dawn: r.dawnOutput },
      };
    }
    case 'adapter': {
      const a = r.adapter;
      const name = [a.vendor, a.architecture, a.device].filter(Boolean).join(' ') || 'unknown adapter';
      const details = { status: r.status, reason: a.software ? `only a software adapter (${name})` : undefined, ...a };
      if (a.software) {
        return {
          id,
          title,
          verdict: soft,
          summary: `software adapter only: ${name}${a.description ? ` (${a.description})` : ''} [software]; \`--backend auto\` skips it (slower than wasm), \`--backend webgpu\` uses it`,
          fix: gpu ? "the GPU's Vulkan driver is not used: install it, or unset VK_DRIVER_FILES if it points at a software driver" : undefined,
          details,
        };
      }
      const precheck = vulkanUnavailableReason(p.vulkan);
      if (precheck) {
        // Dawn found Vulkan where the look-up before start-up did not: the backend would skip WebGPU.
        return {
          id,
          title,
          verdict: 'warn',
          summary: `adapter ${name} found by Dawn, but the Vulkan check before start-up says "${precheck}", so \`--backend auto\` skips WebGPU`,
          fix: 'set PARTS_VULKAN_PROBE=0 to let Dawn look for Vulkan itself',
          details: { ...details, reason: precheck },
        };
      }
      return { id, title, verdict: 'ok', summary: `adapter ${name}${a.description ? ` (${a.description})` : ''}, vendor ${a.vendor || 'unknown'}`, details };
    }
  }
}

/**
 * Which kernels the wasm backend trains with: oneDNN's (the native addon, on by default where it is
 * built) for the kernels it took over, or the wasm ones, and why.
 */
export function onednnCheck(s: { active: boolean; detail: string; kernels?: string[] }): Check {
  if (s.active) {
    const which = s.kernels?.length ? ` for ${s.kernels.join(', ')} (the wasm kernels run the rest)` : '';
    return { id: 'backend:onednn', title: 'oneDNN kernels', verdict: 'ok', summary: `active on wasm${which}, the default where the addon is built: ${s.detail}`, details: { ...s } };
  }
  const off = /PARTS_ONEDNN=0/.test(s.detail);
  return {
    id: 'backend:onednn',
    title: 'oneDNN kernels',
    verdict: 'info',
    summary: `not used, the wasm kernels run the convolutions and dense products: ${s.detail}`,
    fix: off ? 'unset PARTS_ONEDNN (or set it to 1) to train on them where the addon is built' : 'Linux with Debian/Ubuntu packages: `bash scripts/setup.sh` as root installs libdnnl-dev and builds the addon (`pnpm --filter @parts/backend build:onednn` rebuilds it)',
    details: { ...s },
  };
}

export async function checkBackends(p: DiagnoseProbes): Promise<BackendChecks> {
  const [gpuNodes, nodeGpu, webgpu, node] = await Promise.all([
    p.gpuDeviceNodes(),
    p.loadOptional('@tensorflow/tfjs-node-gpu'),
    p.webgpu(),
    p.loadOptional('@tensorflow/tfjs-node'),
  ]);
  const gpu = gpuNodes.length > 0;
  // cpu first, wasm last: wasm stays the current backend for the model check.
  const cpu = await p.startBackend('cpu');
  const wasm = await p.startBackend('wasm');

  const checks: Check[] = [
    tfjsNodeCheck('tfjs-node-gpu', nodeGpu),
    webgpuCheck(p, gpu, webgpu),
    vulkanCheck(p, gpu, webgpu),
    tfjsNodeCheck('tfjs-node', node),
  ];
  if (wasm.ok) {
    const simd = wasm.simd ? 'SIMD' : 'no SIMD (slower)';
    const threads = `${wasm.threads ?? 1} thread${wasm.threads === 1 ? '' : 's'}`;
    checks.push({ id: 'backend:wasm', title: 'wasm', verdict: wasm.simd === false ? 'warn' : 'ok', summary: `works: ${simd}, ${threads}`, fix: wasm.simd === false ? 'a newer Node enables wasm SIMD' : undefined, details: { ...wasm } });
  } else {
    checks.push({ id: 'backend:wasm', title: 'wasm', verdict: 'warn', summary: `does not start: ${wasm.error}`, fix: '`pnpm install` again (@tensorflow/tfjs-backend-wasm)', details: { ...wasm } });
  }
  if (wasm.ok && wasm.onednn) checks.push(onednnCheck(wasm.onednn));
  checks.push(
    cpu.ok
      ? { id: 'backend:cpu', title: 'cpu', verdict: 'ok', summary: 'works (plain JavaScript: the slowest, last fallback)', details: { ...cpu } }
      : { id: 'backend:cpu', title: 'cpu', verdict: 'warn', summary: `does not start: ${cpu.error}`, fix: '`pnpm install` again', details: { ...cpu } },
  );

  // What initBackend('auto') would pick, in its order.
  const picks: [boolean, string, string][] = [
    [nodeGpu.installed && !nodeGpu.error, 'tensorflow', 'GPU (libtensorflow CUDA)'],
    [webgpu.status === 'adapter' && !webgpu.adapter.software && !vulkanUnavailableReason(p.vulkan), 'webgpu', webgpu.status === 'adapter' ? `GPU (${[webgpu.adapter.vendor, webgpu.adapter.device].filter(Boolean).join(' ')})` : ''],
    [node.installed && !node.error, 'tensorflow', 'CPU (libtensorflow)'],
    [wasm.ok, 'wasm', wasm.ok ? wasm.device : ''],
    [cpu.ok, 'cpu', cpu.ok ? cpu.device : ''],
  ];
  const pick = picks.find(([ok]) => ok);
  const backend = pick ? { name: pick[1], device: pick[2] } : null;
  const gpuBackend = backend && (backend.name === 'webgpu' || backend.device.startsWith('GPU'));
  const webgpuLine = checks.find((c) => c.id === 'backend:webgpu')!;
  const whyNoGpu = gpuBackend ? '' : `; no GPU backend (WebGPU: ${String(webgpuLine.details?.reason ?? webgpuLine.summary)})`;
  checks.unshift(
    backend
      ? {
          id: 'backend',
          title: 'backend',
          verdict: 'ok',
          required: true,
          summary: `\`--backend auto\` uses ${backend.name} on ${backend.device}${whyNoGpu}`,
          fix: gpuBackend || !gpu ? undefined : 'a GPU is present but unused: see the WebGPU and Vulkan lines',
          details: { ...backend, gpuDevices: gpuNodes },
        }
      : { id: 'backend', title: 'backend', verdict: 'fail', required: true, summary: 'no compute backend starts', fix: '`bash scripts/setup.sh` (reinstalls the packages)', details: { gpuDevices: gpuNodes } },
  );
  return { checks, backend };
}
