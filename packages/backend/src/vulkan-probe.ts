// Looks for the Vulkan loader (libvulkan.so.1) and Vulkan drivers (ICD manifests) the way the loader
// and the dynamic linker do, without loading anything. Dawn (the `webgpu` package) prints its own
// multi-line native warnings to stderr when it cannot load Vulkan or finds no driver, and nothing in
// JavaScript can silence a native write; checking first lets WebGPU be skipped with one plain reason.
// Linux only: elsewhere Dawn uses Metal or Direct3D and these checks do not apply.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { envSetting, processEnv } from '@parts/cli';

export const VULKAN_LOADER = 'libvulkan.so.1';

/** What the probes read from the machine; tests pass their own. */
export interface VulkanProbeSystem {
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  exists(file: string): boolean;
  /** File names in a folder ([] when it cannot be read). */
  list(dir: string): string[];
  /** Output of `ldconfig -p`, or null when ldconfig cannot run. */
  ldconfig(): string | null;
}

export const realVulkanSystem: VulkanProbeSystem = {
  platform: process.platform,
  env: processEnv() as NodeJS.ProcessEnv,
  exists: (f) => existsSync(f),
  list: (d) => {
    try {
      return readdirSync(d);
    } catch {
      return [];
    }
  },
  ldconfig: () => {
    for (const bin of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
      try {
        return execFileSync(bin, ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
      } catch {
        /* try the next */
      }
    }
    return null;
  },
};

/** The dynamic linker's default folders (besides ld.so.cache) on common Linux distributions. */
const DEFAULT_LIB_DIRS = ['/lib', '/usr/lib', '/lib64', '/usr/lib64', '/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib/aarch64-linux-gnu'];

function splitPaths(v: string | undefined): string[] {
  return (v ?? '').split(':').filter(Boolean);
}

/** Path of the Vulkan loader as dlopen would find it (LD_LIBRARY_PATH, ld.so.cache, default folders), or null. */
export function findVulkanLoader(sys: VulkanProbeSystem = realVulkanSystem): string | null {
  for (const dir of splitPaths(sys.env.LD_LIBRARY_PATH)) {
    const f = path.join(dir, VULKAN_LOADER);
    if (sys.exists(f)) return f;
  }
  const cache = sys.ldconfig();
  const line = cache?.split('\n').find((l) => l.trim().startsWith(`${VULKAN_LOADER} `));
  if (line) return line.split('=>').pop()!.trim();
  for (const dir of DEFAULT_LIB_DIRS) {
    const f = path.join(dir, VULKAN_LOADER);
    if (sys.exists(f)) return f;
  }
  return null;
}

/**
 * Vulkan driver manifests (ICD .json files) the loader would read: VK_DRIVER_FILES / VK_ICD_FILENAMES
 * replace the search (files or folders), VK_ADD_DRIVER_FILES adds to it; otherwise the XDG config and
 * data folders and /etc/vulkan/icd.d.
 */
export function findVulkanDrivers(sys: VulkanProbeSystem = realVulkanSystem): string[] {
  const expand = (entry: string): string[] =>
    entry.endsWith('.json') ? (sys.exists(entry) ? [entry] : []) : sys.list(entry).filter((n) => n.endsWith('.json')).map((n) => path.join(entry, n));
  const override = sys.env.VK_DRIVER_FILES || sys.env.VK_ICD_FILENAMES;
  const added = splitPaths(sys.env.VK_ADD_DRIVER_FILES).flatMap(expand);
  if (override) return [...splitPaths(override).flatMap(expand), ...added];
  const home = sys.env.HOME || os.homedir();
  const configDirs = [sys.env.XDG_CONFIG_HOME || path.join(home, '.config'), ...(splitPaths(sys.env.XDG_CONFIG_DIRS).length ? splitPaths(sys.env.XDG_CONFIG_DIRS) : ['/etc/xdg'])];
  const dataDirs = [sys.env.XDG_DATA_HOME || path.join(home, '.local/share'), ...(splitPaths(sys.env.XDG_DATA_DIRS).length ? splitPaths(sys.env.XDG_DATA_DIRS) : ['/usr/local/share', '/usr/share'])];
  const dirs = [...configDirs, '/usr/local/etc', '/etc', ...dataDirs].map((d) => path.join(d, 'vulkan', 'icd.d'));
  return [...new Set([...dirs.flatMap(expand), ...added])];
}

/**
 * Why Dawn could not start a Vulkan adapter here, as one plain sentence, or null when the loader and
 * at least one driver are present (or on a platform without Vulkan-based WebGPU, or with
 * PARTS_VULKAN_PROBE=0).
 */
export function vulkanUnavailableReason(sys: VulkanProbeSystem = realVulkanSystem): string | null {
  if (sys.platform !== 'linux' || envSetting('PARTS_VULKAN_PROBE', sys.env) === false) return null;
  if (!findVulkanLoader(sys)) return `no Vulkan loader (${VULKAN_LOADER} not found): no WebGPU adapter`;
  if (!findVulkanDrivers(sys).length) return 'no Vulkan driver (the Vulkan loader is installed but no ICD is registered): no WebGPU adapter';
  return null;
}
