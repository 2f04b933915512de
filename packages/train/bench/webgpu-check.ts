// Numeric check of the WebGPU kernels used by training against the cpu backend. Exit 1 on failure.
import { initForBench } from './init-backend';
import { runNumericCheck } from '../../backend/src/webgpu/numeric-check';

const desc = await initForBench('webgpu');
console.log(`numeric check on ${desc} (kernels=${process.env.PARTS_WEBGPU_KERNELS ?? 'all'})`);
const results = await runNumericCheck('webgpu');
const bad = results.filter((r) => !r.ok);
console.log(bad.length ? `numeric check FAILED: ${bad.map((b) => b.name).join('; ')}` : `numeric check passed (${results.length} cases)`);
process.exitCode = bad.length ? 1 : 0;
