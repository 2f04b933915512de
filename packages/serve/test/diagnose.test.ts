// pnpm diagnose's checks on simulated machines: every probe is replaced, except md5 of real temp files.
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { VulkanProbeSystem } from '@parts/backend';
import { md5File } from '@parts/models';
import { initBackend } from '@parts/backend';
import { exitCode, formatReport, pinnedPnpm, realProbes, runDiagnose, satisfies, type Check, type DiagnoseProbes, type DiagnoseReport, type WebGPUProbeResult } from '../src/diagnose/index';
import { checkPromotedModel } from '../src/diagnose/file-checks';
import { makeModel, tempDir } from './fixtures';

const ROOT = '/repo';
const PKG = JSON.stringify({ engines: { node: '>=20.19' } });
const SETUP = '#!/usr/bin/env bash\nset -e\nPNPM_VERSION=12.21.0\n';
const LOADER = '/usr/lib/x86_64-linux-gnu/libvulkan.so.1';
const NVIDIA_ICD = '/usr/share/vulkan/icd.d/nvidia_icd.json';
const DAWN_NO_LOADER =
  "Warning: Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file: No such file or directory";

function vulkan(files: string[], env: NodeJS.ProcessEnv = {}): VulkanProbeSystem {
  return {
    platform: 'linux',
    env: { HOME: '/home/u', ...env },
    exists: (f) => files.includes(f),
    list: (d) => files.filter((f) => path.dirname(f) === d).map((f) => path.basename(f)),
    ldconfig: () => null,
  };
}

/** A CPU-only machine like this project's: no Vulkan loader, no tfjs-node, wasm works, nothing cached. */
function machine(over: Partial<DiagnoseProbes> = {}, files: Record<string, string> = {}, dirs: Record<string, string[]> = {}): DiagnoseProbes {
  const text: Record<string, string> = { [`${ROOT}/package.json`]: PKG, [`${ROOT}/scripts/setup.sh`]: SETUP, ...files };
  return {
    root: ROOT,
    nodeVersion: '20.20.2',
    env: {},
    pnpmVersion: async () => '12.21.0',
    readText: async (f) => text[f] ?? null,
    exists: async (f) => f in text || f in dirs,
    listDir: async (d) => dirs[d] ?? null,
    vulkan: vulkan([]),
    gpuDeviceNodes: async () => [],
    loadOptional: async (pkg) => ({ installed: false, error: `Cannot find module '${pkg}'` }),
    webgpu: async (): Promise<WebGPUProbeResult> => ({ status: 'no-adapter', dawnOutput: DAWN_NO_LOADER }),
    startBackend: async (name) => (name === 'wasm' ? { ok: true, device: 'CPU (wasm SIMD, 1 thread)', simd: true, threads: 1 } : { ok: true, device: 'CPU (plain JavaScript, 1 thread)' }),
    md5: md5File,
    cacheDir: '/home/u/.cache/parts-classifier',
    weightsDir: '/home/u/.cache/parts-classifier/keras-weights',
    pretrained: [
      { arch: 'vgg16', fileName: 'vgg16_notop.h5', url: 'https://example.org/vgg16_notop.h5', md5: '0'.repeat(32) },
      { arch: 'resnet50', fileName: 'resnet50_notop.h5', url: 'https://example.org/resnet50_notop.h5', md5: '1'.repeat(32) },
    ],
    modelDir: `${ROOT}/packages/serve/model`,
    loadModel: async () => {
      throw new Error('no model in this simulation');
    },
    ...over,
  };
}

const get = (r: DiagnoseReport, id: string): Check => {
  const c = r.checks.find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id} in ${r.checks.map((x) => x.id).join(', ')}`);
  return c;
};

const adapter = (a: Partial<{ vendor: string; architecture: string; device: string; description: string; software: boolean }>): WebGPUProbeResult => ({
  status: 'adapter',
  adapter: { vendor: '', architecture: '', device: '', description: '', software: false, ...a },
  dawnOutput: '',
});

describe('pnpm diagnose on simulated machines', () => {
  it('lists the PARTS_ variables in force, and warns of one that nothing reads with the closest real name', async () => {
    const none = get(await runDiagnose(machine()), 'settings');
    expect(none.verdict).toBe('info');
    const set = get(await runDiagnose(machine({ env: { PARTS_WASM_THREADS: '2', HOME: '/home/u' } })), 'settings');
    expect(set).toMatchObject({ verdict: 'ok', summary: 'environment in force: PARTS_WASM_THREADS=2' });
    const typo = get(await runDiagnose(machine({ env: { PARTS_CACHE_DRI: '/x' } })), 'settings');
    expect(typo.verdict).toBe('warn');
    expect(typo.fix).toMatch(/PARTS_CACHE_DRI: did you mean PARTS_CACHE_DIR\?/);
  });

  it('no GPU, no Vulkan loader: wasm is used, WebGPU unavailable with the reason, all as info; exit 0', async () => {
    const r = await runDiagnose(machine());
    expect(exitCode(r)).toBe(0);
    expect(r.backend).toEqual({ name: 'wasm', device: 'CPU (wasm SIMD, 1 thread)' });
    expect(get(r, 'backend').summary).toMatch(/^`--backend auto` uses wasm on CPU \(wasm SIMD, 1 thread\); no GPU backend \(WebGPU: no Vulkan loader \(libvulkan\.so\.1 not found\)/);
    expect(get(r, 'backend:webgpu')).toMatchObject({ verdict: 'info', summary: expect.stringContaining('unavailable: no Vulkan loader') });
    // Dawn's own words are the evidence on the Vulkan line, without its source location.
    expect(get(r, 'vulkan')).toMatchObject({ verdict: 'info', summary: expect.stringContaining("Dawn: Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file") });
    expect(get(r, 'vulkan').fix).toMatch(/nothing to do/);
    expect(get(r, 'backend:tfjs-node-gpu')).toMatchObject({ verdict: 'info', summary: expect.stringMatching(/^not installed .*downloads libtensorflow with CUDA/) });
    expect(get(r, 'backend:wasm')).toMatchObject({ verdict: 'ok', summary: 'works: SIMD, 1 thread' });
    expect(r.checks.filter((c) => c.verdict === 'warn' || c.verdict === 'fail')).toEqual([]);
  });

  it('says whether the oneDNN kernels run on wasm, and why not with the fix', async () => {
    const wasmWith = (onednn: { active: boolean; detail: string; kernels?: string[] }) => machine({
      startBackend: async (name) => (name === 'wasm' ? { ok: true, device: 'CPU (wasm SIMD, 2 threads) + oneDNN kernels', simd: true, threads: 2, onednn } : { ok: true, device: 'CPU (plain JavaScript, 1 thread)' }),
    });
    const active = get(await runDiagnose(wasmWith({ active: true, detail: 'oneDNN 2.6.3 (AVX2), OpenMP wait policy PASSIVE, 2 threads', kernels: ['Conv2D', 'MaxPoolGrad'] })), 'backend:onednn');
    expect(active).toMatchObject({ verdict: 'ok', summary: 'active on wasm for Conv2D, MaxPoolGrad (the wasm kernels run the rest), the default where the addon is built: oneDNN 2.6.3 (AVX2), OpenMP wait policy PASSIVE, 2 threads' });
    const absent = get(await runDiagnose(wasmWith({ active: false, detail: 'addon not built (scripts/setup.sh builds it where libdnnl-dev is installed)' })), 'backend:onednn');
    expect(absent).toMatchObject({ verdict: 'info', summary: expect.stringMatching(/^not used, the wasm kernels run the convolutions and dense products: addon not built/) });
    expect(absent.fix).toMatch(/libdnnl-dev/);
    const off = get(await runDiagnose(wasmWith({ active: false, detail: 'switched off by PARTS_ONEDNN=0' })), 'backend:onednn');
    expect(off.summary).toMatch(/switched off by PARTS_ONEDNN=0$/);
    expect(off.fix).toMatch(/^unset PARTS_ONEDNN \(or set it to 1\)/);
    // A machine whose probe reports nothing about oneDNN has no such line.
    expect((await runDiagnose(machine())).checks.some((c) => c.id === 'backend:onednn')).toBe(false);
  });

  it('a GPU device but no Vulkan loader: warnings that say to install libvulkan1', async () => {
    const r = await runDiagnose(machine({ gpuDeviceNodes: async () => ['/dev/nvidia0'] }));
    expect(get(r, 'vulkan')).toMatchObject({ verdict: 'warn', fix: expect.stringContaining('apt-get install libvulkan1') });
    expect(get(r, 'backend:webgpu').verdict).toBe('warn');
    expect(get(r, 'backend').fix).toMatch(/GPU is present but unused/);
    expect(exitCode(r)).toBe(0);
  });

  it('loader present but no Vulkan driver: named as such', async () => {
    const r = await runDiagnose(machine({ vulkan: vulkan([LOADER]), webgpu: async () => ({ status: 'no-adapter', dawnOutput: 'Warning: vkCreateInstance: Found no drivers!' }) }));
    expect(get(r, 'vulkan').summary).toBe(`${LOADER}, but no Vulkan driver (ICD manifest) is registered`);
    expect(get(r, 'backend:webgpu').summary).toMatch(/^unavailable: no Vulkan driver/);
  });

  it('loader and driver present but Dawn finds no adapter: Dawn\'s own reason is quoted', async () => {
    const r = await runDiagnose(
      machine({
        vulkan: vulkan([LOADER, NVIDIA_ICD]),
        gpuDeviceNodes: async () => ['/dev/nvidia0'],
        webgpu: async () => ({ status: 'no-adapter', dawnOutput: 'Warning: vkCreateInstance failed with VK_ERROR_INCOMPATIBLE_DRIVER' }),
      }),
    );
    expect(get(r, 'backend:webgpu')).toMatchObject({ verdict: 'warn', summary: 'unavailable: Dawn found no adapter (vkCreateInstance failed with VK_ERROR_INCOMPATIBLE_DRIVER)' });
    expect(get(r, 'vulkan').verdict).toBe('ok');
  });

  it('a software Vulkan adapter (lavapipe) is flagged and not chosen by auto', async () => {
    const r = await runDiagnose(
      machine({
        vulkan: vulkan([LOADER, '/opt/lvp_icd.json'], { VK_DRIVER_FILES: '/opt/lvp_icd.json' }),
        webgpu: async () => adapter({ vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15-0-6-256-bits-', description: 'llvmpipe: Mesa 25.0.7', software: true }),
      }),
    );
    expect(r.backend!.name).toBe('wasm');
    const w = get(r, 'backend:webgpu');
    expect(w.verdict).toBe('info');
    expect(w.summary).toMatch(/^software adapter only: mesa software llvmpipe-llvm-15-0-6-256-bits- \(llvmpipe: Mesa 25\.0\.7\) \[software\]; `--backend auto` skips it/);
    expect(get(r, 'vulkan')).toMatchObject({ verdict: 'ok', summary: `${LOADER}; driver: /opt/lvp_icd.json` });
  });

  it('a hardware adapter: auto uses WebGPU, and the adapter is named with its vendor', async () => {
    const r = await runDiagnose(
      machine({
        vulkan: vulkan([LOADER, NVIDIA_ICD]),
        gpuDeviceNodes: async () => ['/dev/nvidia0'],
        webgpu: async () => adapter({ vendor: 'nvidia', architecture: 'hopper', device: 'nvidia-h200', description: 'NVIDIA: 580.159.04' }),
      }),
    );
    expect(r.backend).toEqual({ name: 'webgpu', device: 'GPU (nvidia nvidia-h200)' });
    expect(get(r, 'backend:webgpu')).toMatchObject({ verdict: 'ok', summary: 'adapter nvidia hopper nvidia-h200 (NVIDIA: 580.159.04), vendor nvidia' });
    expect(get(r, 'backend')).toMatchObject({ verdict: 'ok', summary: '`--backend auto` uses webgpu on GPU (nvidia nvidia-h200)' });
  });

  it('Dawn finds an adapter where the Vulkan look-up before start-up found no loader: warned, with the switch that lets Dawn try', async () => {
    const r = await runDiagnose(
      machine({
        gpuDeviceNodes: async () => ['/dev/nvidia0'],
        webgpu: async () => adapter({ vendor: 'nvidia', architecture: 'hopper', device: 'nvidia-h200' }),
      }),
    );
    expect(r.backend!.name).toBe('wasm');
    expect(get(r, 'backend:webgpu')).toMatchObject({ verdict: 'warn', fix: 'set PARTS_VULKAN_PROBE=0 to let Dawn look for Vulkan itself' });
  });

  it('tfjs-node-gpu installed but failing to load says why; loaded, auto picks it first', async () => {
    const broken = await runDiagnose(machine({ loadOptional: async (pkg) => (pkg.endsWith('-gpu') ? { installed: true, error: 'libcudart.so.11.0: cannot open shared object file' } : { installed: false }) }));
    expect(get(broken, 'backend:tfjs-node-gpu')).toMatchObject({ verdict: 'warn', summary: 'installed but does not load: libcudart.so.11.0: cannot open shared object file' });
    expect(broken.backend!.name).toBe('wasm');
    const works = await runDiagnose(machine({ loadOptional: async (pkg) => (pkg.endsWith('-gpu') ? { installed: true } : { installed: false }) }));
    expect(works.backend).toEqual({ name: 'tensorflow', device: 'GPU (libtensorflow CUDA)' });
  });

  it('required items decide the exit code: old Node, no pnpm, no working backend', async () => {
    const old = await runDiagnose(machine({ nodeVersion: '18.19.0' }));
    expect(get(old, 'node')).toMatchObject({ verdict: 'fail', required: true, summary: "Node 18.19.0 is older than package.json's engines.node >=20.19" });
    expect(exitCode(old)).toBe(1);
    expect(formatReport(old)).toContain('not ready: node failed');
    const noPnpm = await runDiagnose(machine({ pnpmVersion: async () => null }));
    expect(get(noPnpm, 'pnpm').verdict).toBe('fail');
    expect(exitCode(noPnpm)).toBe(1);
    const otherPnpm = await runDiagnose(machine({ pnpmVersion: async () => '9.15.0' }));
    expect(get(otherPnpm, 'pnpm')).toMatchObject({ verdict: 'warn', fix: '`npm install -g pnpm@12.21.0` (or `bash scripts/setup.sh`)' });
    expect(exitCode(otherPnpm)).toBe(0);
    const none = await runDiagnose(machine({ startBackend: async () => ({ ok: false, error: 'wasm binary not found' }) }));
    expect(get(none, 'backend')).toMatchObject({ verdict: 'fail', summary: 'no compute backend starts' });
    expect(get(none, 'backend:wasm').summary).toBe('does not start: wasm binary not found');
    expect(exitCode(none)).toBe(1);
  });

  it('weights: missing ones say where to put them, verified and corrupt files are told apart by md5', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'diagnose-weights-'));
    try {
      await fsp.writeFile(path.join(dir, 'vgg16_notop.h5'), 'vgg16 weights');
      await fsp.writeFile(path.join(dir, 'resnet50_notop.h5'), 'half a file');
      const good = await md5File(path.join(dir, 'vgg16_notop.h5'));
      const base = machine();
      const pretrained = [{ ...base.pretrained[0]!, md5: good }, base.pretrained[1]!, { arch: 'inception', fileName: 'inception_notop.h5', url: 'https://example.org/inception_notop.h5', md5: '2'.repeat(32) }];
      const r = await runDiagnose(machine({ weightsDir: dir, pretrained, listDir: async (d) => (d === dir ? fsp.readdir(d) : null) }));
      expect(get(r, 'weights:vgg16')).toMatchObject({ verdict: 'ok', summary: 'vgg16_notop.h5 present, md5 verified' });
      expect(get(r, 'weights:resnet50')).toMatchObject({ verdict: 'warn', fix: `delete ${path.join(dir, 'resnet50_notop.h5')}; it is downloaded again on next use` });
      expect(get(r, 'weights:inception')).toMatchObject({ verdict: 'info', fix: `offline: download https://example.org/inception_notop.h5 elsewhere and put it into ${dir}/` });
      // Nothing cached (a fresh clone): one line instead of one per file.
      const none = (await runDiagnose(machine())).checks.filter((c) => c.id.startsWith('weights'));
      expect(none).toHaveLength(1);
      expect(none[0]).toMatchObject({ verdict: 'info', summary: expect.stringMatching(/^no ImageNet weights cached yet in \/home\/u\/\.cache\/parts-classifier\/keras-weights/) });
      expect(none[0]!.details!.files).toHaveLength(2);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  it('the promoted model: absent names the commands that make one; present gives id and labels; broken says so', async () => {
    const absent = await runDiagnose(machine());
    expect(get(absent, 'model')).toMatchObject({ verdict: 'info', fix: 'run `pnpm study`, or `pnpm train` then `pnpm evaluate --promote`' });
    const modelDir = `${ROOT}/packages/serve/model`;
    const present = await runDiagnose(machine({ loadModel: async () => ({ id: '20260101-partsnet-scratch', arch: 'partsnet', mode: 'scratch', labels: ['big', 'small'] }) }, {}, { [modelDir]: ['classifier.json'] }));
    expect(get(present, 'model')).toMatchObject({ verdict: 'ok', summary: '20260101-partsnet-scratch (partsnet/scratch), labels: big, small; loads' });
    const broken = await runDiagnose(machine({}, {}, { [modelDir]: [] }));
    expect(get(broken, 'model')).toMatchObject({ verdict: 'warn', summary: `${modelDir} does not load: no model in this simulation` });
  });

  it('the promoted model: its unknown-photo detector and its parity check on this machine, a failed check as a warning with the fix', async () => {
    const modelDir = `${ROOT}/packages/serve/model`;
    const base = { id: 'm1', arch: 'partsnet', mode: 'scratch', labels: ['big', 'small'] };
    const parity = { ok: true, photos: 6, maxAbsDiff: 1.2e-7, tolerance: 1e-4, backend: 'wasm' };
    const good = await runDiagnose(machine({
      loadModel: async () => ({ ...base, unknown: { active: true, method: 'knn', threshold: 0.123456, temperature: 1.5 }, parity }),
    }, {}, { [modelDir]: ['classifier.json'] }));
    expect(get(good, 'model')).toMatchObject({
      verdict: 'ok',
      summary: 'm1 (partsnet/scratch), labels: big, small; loads; answers unknown by knn at threshold 0.1235 (temperature 1.50); parity ok on wasm (6 photos, max |Δp| 1.2e-7 ≤ 0.0001)',
    });
    const old = await runDiagnose(machine({
      loadModel: async () => ({ ...base, unknown: { active: false, reason: 'no ood.json in the model folder: never unknown' }, parity: null }),
    }, {}, { [modelDir]: ['classifier.json'] }));
    expect(get(old, 'model').verdict).toBe('ok');
    expect(get(old, 'model').summary).toMatch(/; unknown: no ood\.json in the model folder: never unknown; no parity record .*not checked$/);
    const tampered = await runDiagnose(machine({
      loadModel: async () => ({ ...base, parity: { ...parity, ok: false, maxAbsDiff: 2e-3, reason: 'probabilities differ from the record by 2.00e-3' } }),
    }, {}, { [modelDir]: ['classifier.json'] }));
    expect(get(tampered, 'model')).toMatchObject({ verdict: 'warn', fix: expect.stringMatching(/pnpm serve` refuses this model.*--rollback/) });
    expect(get(tampered, 'model').summary).toMatch(/parity FAILS on wasm: probabilities differ/);
  });

  it('datasets: images counted per split; absent is info', async () => {
    const d = '/shared/datasets';
    const r = await runDiagnose(
      machine({}, {}, {
        [d]: ['parts', 'README.md'],
        [`${d}/parts`]: ['train', 'test'],
        [`${d}/parts/train`]: ['big', 'small'],
        [`${d}/parts/train/big`]: ['a.jpg', 'b.png', 'notes.txt'],
        [`${d}/parts/train/small`]: ['c.JPEG'],
        [`${d}/parts/test`]: ['big'],
        [`${d}/parts/test/big`]: ['d.webp'],
      }),
    );
    expect(get(r, 'datasets')).toMatchObject({ verdict: 'ok', summary: `${d}: parts (train 3, test 1)` });
    expect(get(await runDiagnose(machine()), 'datasets').verdict).toBe('info');
  });

  it('the text report: one line per check with its verdict, a fix line under it, and a closing verdict', async () => {
    const text = formatReport(await runDiagnose(machine()));
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^ok {4}node {2,}Node 20\.20\.2 \(package\.json engines: >=20\.19\)$/);
    expect(lines.find((l) => l.startsWith('info  WebGPU'))).toBeDefined();
    const model = lines.findIndex((l) => l.includes('promoted model'));
    expect(lines[model + 1]!.trim()).toBe('fix: run `pnpm study`, or `pnpm train` then `pnpm evaluate --promote`');
    expect(text.trimEnd().split('\n').at(-1)).toMatch(/^ready: computing on wasm; \d+ ok, 0 warn, \d+ info$/);
  });
});

describe('the promoted-model check on real files', () => {
  it('reads the id and labels the server would report and loads the model; a truncated weights file is a warning', async () => {
    await initBackend('cpu', () => {});
    const dir = await tempDir('diagnose-model-');
    try {
      await makeModel(dir, { runId: 'run-diagnose-1' });
      const probes = { ...realProbes(), modelDir: dir };
      const ok = await checkPromotedModel(probes);
      expect(ok.verdict).toBe('ok');
      // A folder without ood.json or parity.json (saved before either existed) loads and says so.
      expect(ok.summary).toMatch(/^run-diagnose-1 \(tinytest\/scratch\), labels: big, small; loads; unknown: no ood\.json.*; no parity record/);
      const weights = path.join(dir, 'weights.bin');
      await fsp.truncate(weights, Math.floor((await fsp.stat(weights)).size / 2));
      const broken = await checkPromotedModel(probes);
      expect(broken.verdict).toBe('warn');
      expect(broken.summary).toMatch(new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} does not load: `));
      expect(broken.fix).toMatch(/pnpm promote --rollback/);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('version rules', () => {
  it('satisfies the engines forms package.json uses', () => {
    expect(satisfies('20.19.0', '>=20.19')).toBe(true);
    expect(satisfies('v22.1.0', '>=20.19')).toBe(true);
    expect(satisfies('20.18.9', '>=20.19')).toBe(false);
    expect(satisfies('12.21.3', '^12.21.0')).toBe(true);
    expect(satisfies('13.0.0', '^12.21.0')).toBe(false);
    expect(satisfies('20.1.0', '>=18 <22')).toBeNull();
  });

  it("reads the pinned pnpm from scripts/setup.sh", () => {
    expect(pinnedPnpm(SETUP)).toBe('12.21.0');
    expect(pinnedPnpm('echo hi')).toBeNull();
  });
});
