// Numeric check of the WebGPU kernels used by training against the cpu backend, with the default
// convolution kernels and again with the other inner loops (vec4, register prefetch) and wide tiles (the A/B candidates, so
// a faster variant is known to be correct on that GPU before it becomes the default). Exit 1 on failure.
import { initForBench } from './init-backend';
import { CONV_CASES, checkConvCase, runNumericCheck } from './numeric-check';
import { envSetting, setEnvSetting } from '@parts/cli';

const desc = await initForBench('webgpu');
console.log(`numeric check on ${desc} (kernels=${envSetting('PARTS_WEBGPU_KERNELS')})`);
const results = await runNumericCheck('webgpu');
for (const [core, tiles] of [['scalarp', ''], ['vec4', ''], ['vec4p', ''], ['vec4p', 'forward:8x8,inputGrad:8x8,filterGrad:8x8,matmul:8x8']]) {
  setEnvSetting('PARTS_CONV_CORE', core);
  setEnvSetting('PARTS_CONV_TILES', tiles || undefined);
  for (const c of CONV_CASES) {
    const r = await checkConvCase(c, 'webgpu', 101);
    r.name = `${r.name} [${core}${tiles ? ` ${tiles}` : ''}]`;
    results.push(r);
    if (!r.ok) console.log(`FAIL ${r.name}: ${JSON.stringify(r.errors)}`);
  }
}
setEnvSetting('PARTS_CONV_CORE', undefined);
setEnvSetting('PARTS_CONV_TILES', undefined);
const bad = results.filter((r) => !r.ok);
console.log(bad.length ? `numeric check FAILED: ${bad.map((b) => b.name).join('; ')}` : `numeric check passed (${results.length} cases)`);
process.exitCode = bad.length ? 1 : 0;
