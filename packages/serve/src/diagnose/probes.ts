// Everything the checks read from the machine, behind one interface: the real machine by default,
// simulated machines in tests ("no GPU", "software Vulkan adapter", "missing weights", ...).
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, onednnKernelsState, realVulkanSystem, type VulkanProbeSystem } from '@parts/backend';
import { repoRoot, servedModelDir } from '@parts/cli';
import { checkParityDir, listArchs, loadOnnxRuntime, loadPredictor, md5File, PARITY_JSON, resolveCacheDir, weightsFolder, type RuntimeProbe } from '@parts/models';
import { readModelInfo, resolveModelDir } from '../model-source';
import { probeWebGPUAdapter, type WebGPUProbeResult } from './webgpu-probe';
import { envSetting, processEnv, type RawEnv } from '@parts/cli';

export interface OptionalPackageProbe {
  installed: boolean;
  /** Why it is missing or did not load (first line of the error). */
  error?: string;
}

export type BackendStart = { ok: true; device: string; simd?: boolean; threads?: number; onednn?: { active: boolean; detail: string; kernels?: string[] } } | { ok: false; error: string };

export interface ModelProbe {
  id: string;
  arch: string;
  mode: string;
  labels: string[];
  /** Its unknown-photo detector (ood.json), or why it has none. */
  unknown?: { active: true; method: string; threshold: number; temperature: number } | { active: false; reason: string };
  /** Its parity record re-checked on this machine's backend; null without parity.json. */
  parity?: { ok: boolean; photos: number; maxAbsDiff: number; tolerance: number; backend: string; reason?: string } | null;
}

export interface PretrainedFile {
  arch: string;
  fileName: string;
  url: string;
  md5: string;
}

export interface DiagnoseProbes {
  /** Repository root (package.json, scripts/setup.sh, ../shared). */
  root: string;
  nodeVersion: string;
  /** The environment (the settings check lists the variables in force). */
  env: RawEnv;
  /** pnpm's version, or null when pnpm is not on PATH. */
  pnpmVersion(): Promise<string | null>;
  readText(file: string): Promise<string | null>;
  exists(file: string): Promise<boolean>;
  /** Entries of a folder, or null when it does not exist. */
  listDir(dir: string): Promise<string[] | null>;
  vulkan: VulkanProbeSystem;
  /** GPU device nodes (/dev/nvidia0, /dev/dri/renderD128): is there a GPU to drive at all? */
  gpuDeviceNodes(): Promise<string[]>;
  /** Loads an optional package (tfjs-node, tfjs-node-gpu) as the backend would. */
  loadOptional(pkg: string): Promise<OptionalPackageProbe>;
  webgpu(): Promise<WebGPUProbeResult>;
  /** Starts wasm or cpu (it stays the current backend) and runs one small op on it. */
  startBackend(name: 'wasm' | 'cpu'): Promise<BackendStart>;
  md5(file: string): Promise<string>;
  cacheDir: string;
  weightsDir: string;
  pretrained: PretrainedFile[];
  modelDir: string;
  /** Reads and loads the model of a folder (throws with the reason). */
  loadModel(dir: string): Promise<ModelProbe>;
  /** Loads onnxruntime-node (the engine check is left out without this probe). */
  onnxRuntime?(): Promise<RuntimeProbe>;
}

const run = promisify(execFile);

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!.trim();
}

export function realProbes(root: string = repoRoot()): DiagnoseProbes {
  const backendRequire = createRequire(path.join(root, 'packages', 'backend', 'package.json'));
  const cacheDir = resolveCacheDir();
  return {
    root,
    nodeVersion: process.versions.node,
    env: processEnv(),
    pnpmVersion: async () => {
      // Run as `pnpm diagnose`, pnpm names itself in the user agent; otherwise ask it.
      const ua = /\bpnpm\/(\d+\.\d+\.\d+\S*)/.exec(envSetting('npm_config_user_agent') ?? '');
      if (ua) return ua[1]!;
      try {
        return (await run('pnpm', ['--version'], { timeout: 15_000 })).stdout.trim() || null;
      } catch {
        return null;
      }
    },
    readText: (f) => fsp.readFile(f, 'utf8').catch(() => null),
    exists: (f) => fsp.stat(f).then(() => true, () => false),
    listDir: (d) => fsp.readdir(d).catch(() => null),
    vulkan: realVulkanSystem,
    gpuDeviceNodes: async () => {
      const nvidia = ((await fsp.readdir('/dev').catch(() => [])) as string[]).filter((n) => /^nvidia\d+$/.test(n)).map((n) => `/dev/${n}`);
      const dri = ((await fsp.readdir('/dev/dri').catch(() => [])) as string[]).filter((n) => n.startsWith('renderD')).map((n) => `/dev/dri/${n}`);
      return [...nvidia, ...dri];
    },
    loadOptional: async (pkg) => {
      let entry: string;
      try {
        entry = backendRequire.resolve(pkg);
      } catch (e) {
        return { installed: false, error: firstLine(e) };
      }
      try {
        await import(entry);
        return { installed: true };
      } catch (e) {
        return { installed: true, error: firstLine(e) };
      }
    },
    webgpu: () => probeWebGPUAdapter(root),
    startBackend: async (name) => {
      try {
        const info = await initBackend(name, () => {}, { verbose: false });
        const y = tf.tidy(() => tf.add(tf.tensor1d([1, 2]), 1));
        const values = Array.from(await y.data());
        y.dispose();
        if (values[0] !== 2 || values[1] !== 3) throw new Error(`1+[1,2] gave [${values.join(', ')}]`);
        if (name !== 'wasm') return { ok: true, device: info.device };
        const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
        const threads = Number(/(\d+) threads?/.exec(info.device)?.[1] ?? 1);
        return { ok: true, device: info.device, simd, threads, onednn: onednnKernelsState() };
      } catch (e) {
        return { ok: false, error: firstLine(e) };
      }
    },
    md5: md5File,
    cacheDir,
    weightsDir: weightsFolder(cacheDir),
    pretrained: listArchs().flatMap((a) => (a.weights ? [{ arch: a.name, ...a.weights }] : [])),
    modelDir: servedModelDir(),
    onnxRuntime: () => loadOnnxRuntime(),
    loadModel: async (dir) => {
      // The id and labels as the server reports them (model-source.ts owns that reading), then a real load.
      // The detector is read (and checked against the model) as predict and serve read it; the parity
      // record is re-checked on the backend that is current (diagnose has started wasm or cpu by now).
      const info = await readModelInfo(await resolveModelDir(dir));
      const predictor = await loadPredictor(dir);
      try {
        const { ood } = predictor;
        const unknown = ood.active
          ? { active: true as const, method: ood.method, threshold: ood.threshold, temperature: ood.temperature }
          : { active: false as const, reason: ood.reason };
        const hasRecord = await fsp.access(path.join(predictor.dir, PARITY_JSON)).then(() => true, () => false);
        const parity = hasRecord ? await checkParityDir(await predictor.tfjsClassifier()) : null;
        return { id: info.id, arch: info.arch, mode: info.mode, labels: info.labels, unknown, parity };
      } finally {
        predictor.dispose();
      }
    },
  };
}
