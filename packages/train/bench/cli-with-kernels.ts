// Runs the lead's `train` or `bench` CLI with our WebGPU kernels registered first (until the
// backend's initBackend('webgpu') registers them itself). Bundled by scripts/gpu/prepare.sh.
// Usage: node cli-with-kernels.mjs train|bench [cli options...]
import { setupWebGPU } from '../../backend/src/webgpu/index';

const which = process.argv[2];
process.argv.splice(2, 1);
try {
  const d = await setupWebGPU();
  console.error(`webgpu kernels registered on ${d.device}`);
} catch (e) {
  console.error(`webgpu kernels not registered: ${(e as Error).message}`);
}
if (which === 'train') await import('../src/cli/train');
else if (which === 'bench') await import('../src/cli/bench');
else throw new Error(`cli-with-kernels: first argument must be train or bench, got ${which}`);
