// What a CPU-only command prints when it starts its backend, measured in a child process so that
// Dawn's native stderr writes are captured: one `backend:` line, no Dawn warning, no internals
// unless PARTS_VERBOSE=1 (what every CLI's --verbose sets).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { vulkanUnavailableReason } from '../src/index';

const exec = promisify(execFile);
const root = fileURLToPath(new URL('../../..', import.meta.url));
const tsx = path.join(root, 'node_modules', '.bin', 'tsx');
const fixture = fileURLToPath(new URL('./fixtures/start-backend.ts', import.meta.url));
const lavapipe = path.join(root, '.cache', 'lavapipe');
const lavapipeLib = path.join(lavapipe, 'root', 'usr', 'lib', 'x86_64-linux-gnu');

/** The child's environment: this one without verbosity or probe switches, plus `extra`. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e = { ...process.env };
  delete e.PARTS_VERBOSE;
  delete e.PARTS_VULKAN_PROBE;
  return { ...e, ...extra };
}

async function start(backend: string, extra: Record<string, string> = {}): Promise<{ stderr: string; info: { name: string } }> {
  const r = await exec(tsx, [fixture, backend], { env: env(extra), cwd: root });
  return { stderr: r.stderr, info: JSON.parse(r.stdout.trim().split('\n').at(-1)!) };
}

const backendLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('backend:'));
const DAWN = /Couldn't load Vulkan|BackendVk\.cpp|vkCreateInstance|VulkanError\.cpp/;

// Without a Vulkan loader (as on this project's CPU machines) 'auto' must not wake Dawn at all.
const noLoader = vulkanUnavailableReason()?.startsWith('no Vulkan loader') ?? false;

describe('quiet backend start', () => {
  it.skipIf(!noLoader)("'auto' without a Vulkan loader: one backend line naming the reason, no Dawn warning, no kernel list", async () => {
    const { stderr, info } = await start('auto');
    expect(info.name).toBe('wasm');
    expect(stderr).not.toMatch(DAWN);
    expect(stderr).not.toContain('registered wasm training kernels');
    const lines = backendLines(stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^backend: wasm on CPU \(wasm/);
    expect(lines[0]).toContain('webgpu: no Vulkan loader (libvulkan.so.1 not found)');
    expect(lines[0]).toContain('tfjs-node-gpu: not installed');
    // Nothing else at all on stderr: the first minutes of a new user are quiet.
    expect(stderr.trim().split('\n')).toEqual(lines);
  });

  it.skipIf(!noLoader)('the check is what silences Dawn: with it switched off (PARTS_VULKAN_PROBE=0) Dawn prints its warning', async () => {
    const { stderr, info } = await start('auto', { PARTS_VULKAN_PROBE: '0' });
    expect(info.name).toBe('wasm');
    expect(stderr).toMatch(/Couldn't load Vulkan/);
  });

  it('the wasm kernel list is printed only with PARTS_VERBOSE=1, and still one line says which backend runs', async () => {
    const quiet = await start('wasm');
    const verbose = await start('wasm', { PARTS_VERBOSE: '1' });
    expect(quiet.stderr).not.toContain('registered wasm training kernels');
    expect(verbose.stderr).toMatch(/backend: registered wasm training kernels Conv2DBackpropFilter/);
    for (const r of [quiet, verbose]) {
      expect(r.info.name).toBe('wasm');
      expect(backendLines(r.stderr).filter((l) => l.startsWith('backend: wasm on '))).toHaveLength(1);
    }
  });

  const lavapipeReady = existsSync(path.join(lavapipe, 'ok'));
  it.skipIf(!lavapipeReady)('a Vulkan loader without any driver (lavapipe\'s loader, no ICD): skipped with one plain reason, no Dawn warning', async () => {
    // (Needs .cache/lavapipe from `bash scripts/test-webgpu.sh`; skipped when it was not fetched.)
    const { stderr, info } = await start('auto', {
      LD_LIBRARY_PATH: lavapipeLib,
      VK_DRIVER_FILES: path.join(lavapipe, 'no-such-icd.json'),
    });
    expect(info.name).toBe('wasm');
    expect(stderr).not.toMatch(DAWN);
    expect(backendLines(stderr)).toHaveLength(1);
    expect(stderr).toContain('webgpu: no Vulkan driver');
  });
});

describe('quiet cpu start', () => {
  it("the cpu backend's 'install our node backend' banner shows only with PARTS_VERBOSE=1", async () => {
    const quiet = await start('cpu');
    const verbose = await start('cpu', { PARTS_VERBOSE: '1' });
    expect(quiet.info.name).toBe('cpu');
    expect(quiet.stderr.trim().split('\n')).toEqual(['backend: cpu on CPU (plain JavaScript, 1 thread)']);
    // Both runs compute one op after the start; only the verbose one lets tfjs print its banner.
    expect(verbose.stderr).toMatch(/looks like you are running TensorFlow\.js in Node\.js/);
  });
});
