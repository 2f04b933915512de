// `pnpm diagnose` for real on this machine, as a child process: --json parses, the verdicts match what
// the backend itself does here, and nothing of Dawn's native output leaks to the terminal. With
// Mesa's lavapipe fetched (`bash scripts/test-webgpu.sh` puts it in .cache/lavapipe) it must report
// the software adapter as such.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { vulkanUnavailableReason } from '@parts/backend';
import { repoRoot } from '@parts/cli';
import type { DiagnoseReport } from '../src/diagnose/index';

const exec = promisify(execFile);
const root = repoRoot();
const tsx = path.join(root, 'node_modules', '.bin', 'tsx');
const cli = path.join(root, 'packages', 'serve', 'src', 'cli', 'diagnose.ts');
const lavapipe = path.join(root, '.cache', 'lavapipe');
const DAWN = /Couldn't load Vulkan|BackendVk\.cpp|vkCreateInstance|artificially reduced/;

async function diagnose(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const e = { ...process.env, ...env };
  delete e.PARTS_VERBOSE;
  return exec(tsx, [cli, ...args], { env: e, cwd: root, maxBuffer: 8 << 20 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
}

const byId = (r: DiagnoseReport) => new Map(r.checks.map((c) => [c.id, c]));
const noLoader = vulkanUnavailableReason()?.startsWith('no Vulkan loader') ?? false;

describe('pnpm diagnose on this machine', () => {
  it('--json: a report whose backend line agrees with the machine, exit 0, no Dawn output', async () => {
    const { code, stdout, stderr } = await diagnose(['--json']);
    expect(code).toBe(0);
    expect(stderr).not.toMatch(DAWN);
    const r = JSON.parse(stdout) as DiagnoseReport;
    expect(r.ok).toBe(true);
    const c = byId(r);
    for (const id of ['node', 'pnpm', 'backend', 'backend:tfjs-node-gpu', 'backend:webgpu', 'vulkan', 'backend:tfjs-node', 'backend:wasm', 'backend:cpu', 'weights', 'chromium', 'fonts', 'datasets', 'model']) {
      expect(c.get(id), id).toBeDefined();
      expect(['ok', 'warn', 'fail', 'info']).toContain(c.get(id)!.verdict);
    }
    expect(c.get('node')!.details!.version).toBe(process.versions.node);
    expect(c.get('backend:wasm')!.verdict).toBe('ok');
    expect(c.get('backend:cpu')!.verdict).toBe('ok');
    if (noLoader) {
      // This project's CPU machines: wasm runs, and the report says why WebGPU does not.
      expect(r.backend!.name).toBe('wasm');
      expect(c.get('backend')!.summary).toContain('uses wasm on CPU (wasm');
      expect(c.get('backend:webgpu')!.summary).toBe('unavailable: no Vulkan loader (libvulkan.so.1 not found): no WebGPU adapter');
      // Dawn's own failure, caught in the probe's child process, is quoted as evidence.
      expect(c.get('vulkan')!.summary).toMatch(/Dawn: Couldn't load Vulkan: libvulkan\.so\.1/);
      expect(c.get('vulkan')!.summary).not.toContain('BackendVk.cpp');
    }
  });

  it('the text report prints one verdict line per check and the closing verdict', async () => {
    const { code, stdout, stderr } = await diagnose([]);
    expect(code).toBe(0);
    expect(stderr).not.toMatch(DAWN);
    const lines = stdout.trimEnd().split('\n');
    expect(lines.filter((l) => /^(ok|warn|fail|info) +\S/.test(l)).length).toBeGreaterThanOrEqual(14);
    expect(lines.at(-1)).toMatch(/^ready: computing on \w+; \d+ ok, \d+ warn, \d+ info$/);
  });

  const lavapipeReady = existsSync(path.join(lavapipe, 'ok'));
  if (!lavapipeReady) console.warn('diagnose lavapipe test skipped: .cache/lavapipe is missing (`bash scripts/test-webgpu.sh` fetches it)');
  it.skipIf(!lavapipeReady)('with a software Vulkan driver (lavapipe), the adapter is found and flagged as software, and auto stays on the CPU', async () => {
    const { code, stdout, stderr } = await diagnose(['--json'], {
      VK_DRIVER_FILES: path.join(lavapipe, 'lvp_icd.json'),
      LD_LIBRARY_PATH: path.join(lavapipe, 'root', 'usr', 'lib', 'x86_64-linux-gnu'),
      XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp',
    });
    expect(code).toBe(0);
    expect(stderr).not.toMatch(DAWN);
    const r = JSON.parse(stdout) as DiagnoseReport;
    const webgpu = byId(r).get('backend:webgpu')!;
    expect(webgpu.details).toMatchObject({ status: 'adapter', software: true, vendor: 'mesa' });
    expect(webgpu.summary).toMatch(/^software adapter only: .*llvmpipe.*\[software\]/);
    expect(byId(r).get('vulkan')!.verdict).toBe('ok');
    expect(r.backend!.name).not.toBe('webgpu');
  });
});
