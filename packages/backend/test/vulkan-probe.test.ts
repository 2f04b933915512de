// The Vulkan loader/driver look-up on simulated machines (no file is read).
import { describe, expect, it } from 'vitest';
import { findVulkanDrivers, findVulkanLoader, vulkanUnavailableReason, type VulkanProbeSystem } from '../src/index';

function system(files: string[], env: NodeJS.ProcessEnv = {}, ldconfig: string | null = null, platform: NodeJS.Platform = 'linux'): VulkanProbeSystem {
  const set = new Set(files);
  return {
    platform,
    env: { HOME: '/home/u', ...env },
    exists: (f) => set.has(f),
    list: (d) => files.filter((f) => f.startsWith(d + '/') && !f.slice(d.length + 1).includes('/')).map((f) => f.slice(d.length + 1)),
    ldconfig: () => ldconfig,
  };
}

const NVIDIA_ICD = '/usr/share/vulkan/icd.d/nvidia_icd.json';

describe('Vulkan probes', () => {
  it('finds the loader through ld.so.cache, LD_LIBRARY_PATH (first) or a default folder', () => {
    const cache = '\tlibvulkan.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libvulkan.so.1\n\tlibc.so.6 (libc6,x86-64) => /lib/libc.so.6\n';
    expect(findVulkanLoader(system([], {}, cache))).toBe('/usr/lib/x86_64-linux-gnu/libvulkan.so.1');
    expect(findVulkanLoader(system(['/opt/vk/libvulkan.so.1'], { LD_LIBRARY_PATH: '/x:/opt/vk' }, cache))).toBe('/opt/vk/libvulkan.so.1');
    expect(findVulkanLoader(system(['/usr/lib64/libvulkan.so.1']))).toBe('/usr/lib64/libvulkan.so.1');
    expect(findVulkanLoader(system([], {}, '\tlibvulkan.so (libc6) => /usr/lib/libvulkan.so\n'))).toBeNull();
  });

  it('finds driver manifests in the standard folders, or only where VK_DRIVER_FILES points', () => {
    expect(findVulkanDrivers(system([NVIDIA_ICD, '/etc/vulkan/icd.d/lvp_icd.x86_64.json', '/etc/vulkan/icd.d/README']))).toEqual([
      '/etc/vulkan/icd.d/lvp_icd.x86_64.json',
      NVIDIA_ICD,
    ]);
    expect(findVulkanDrivers(system([NVIDIA_ICD], { VK_DRIVER_FILES: '/opt/lvp.json' }))).toEqual([]);
    expect(findVulkanDrivers(system([NVIDIA_ICD, '/opt/lvp.json'], { VK_DRIVER_FILES: '/opt/lvp.json' }))).toEqual(['/opt/lvp.json']);
    expect(findVulkanDrivers(system(['/d/a.json'], { VK_ICD_FILENAMES: '/d' }))).toEqual(['/d/a.json']);
    expect(findVulkanDrivers(system(['/x/share/vulkan/icd.d/a.json'], { XDG_DATA_DIRS: '/x/share' }))).toEqual(['/x/share/vulkan/icd.d/a.json']);
  });

  it('says in one sentence what is missing, and nothing when Vulkan is usable or not the API in use', () => {
    const loader = ['/usr/lib/libvulkan.so.1'];
    expect(vulkanUnavailableReason(system([]))).toBe('no Vulkan loader (libvulkan.so.1 not found): no WebGPU adapter');
    expect(vulkanUnavailableReason(system(loader))).toMatch(/^no Vulkan driver \(the Vulkan loader is installed but no ICD is registered\)/);
    expect(vulkanUnavailableReason(system([...loader, NVIDIA_ICD]))).toBeNull();
    expect(vulkanUnavailableReason(system([], {}, null, 'darwin'))).toBeNull();
    expect(vulkanUnavailableReason(system([], { PARTS_VULKAN_PROBE: '0' }))).toBeNull();
  });
});
