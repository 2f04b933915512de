#!/usr/bin/env tsx
import path from 'node:path';
import { existsSync } from 'node:fs';
import { Command } from 'commander';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, tuneWebGPUKernels, wasmThreadsInUse } from '@parts/backend';
import { ensureDemoDataset, int, num, repoRoot, resolveUserPath, runCli } from '@parts/data';
import { listArchs } from '@parts/models';
import { benchDecode, benchModel, benchTorchCpu, cpuGHz, findTorchPython, formatBench, formatPeer, machineThreads, wasmSimdCeiling, type BenchRecord, type PeerRecord } from '../bench';

const program = new Command('bench')
  .description('Throughput of forward pass and training step per backend and architecture, and of image decoding.')
  .option('--backend <list>', 'comma-separated backends to measure (default: the one auto picks, then wasm and cpu)')
  .option('--arch <list>', "comma-separated architectures, or 'all'", 'tinyvgg')
  .option('--img-size <n>', 'input size', int, 256)
  .option('--batch <n>', 'batch size (the pure-JS cpu backend uses 1)', int, 8)
  .option('--seconds <x>', 'time per measurement', num, 3)
  .option('--data <dir>', 'photos for the decode benchmark (default: ../shared/datasets/parts, else the demo data)')
  .option('--peer <name>', "also measure a peer on the same models in the same run and print the ratios: 'torch' (PyTorch CPU)")
  .option('--peer-threads <n>', 'threads for the peer (default: every CPU)', int)
  .option('--json', 'one JSON object per line');

runCli(program, async (o) => {
  const emit = (r: BenchRecord | PeerRecord) => process.stdout.write((o.json ? JSON.stringify(r) : formatBench(r as BenchRecord)) + '\n');
  if (o.peer != null && o.peer !== 'torch') throw new Error(`--peer: unknown peer '${o.peer}' (known: torch)`);
  const torch = o.peer === 'torch' ? findTorchPython() : null;
  if (torch && 'error' in torch) process.stderr.write(`peer torch skipped: ${torch.error}\n`);
  const peers = new Map<string, PeerRecord | null>();
  const ghz = cpuGHz();
  if (o.peer) process.stderr.write(`clock: ${ghz ? `${ghz.toFixed(2)} GHz (/proc/cpuinfo)` : 'unknown; SIMD peak assumes 3 GHz'}\n`);
  // Without --backend: whichever auto picks, then wasm and cpu for comparison.
  const wanted: string[] = o.backend
    ? o.backend.split(',')
    : [...new Set([(await initBackend('auto', (m) => process.stderr.write(m + '\n'))).name, 'wasm', 'cpu'])];
  const archs: string[] = o.arch === 'all' ? listArchs().map((a) => a.name) : o.arch.split(',');
  for (const backend of wanted) {
    try {
      await initBackend(backend as never, (m) => process.stderr.write(m + '\n'));
    } catch (e) {
      process.stderr.write(`skip backend ${backend}: ${(e as Error).message}\n`);
      continue;
    }
    const slow = tf.getBackend() === 'cpu';
    for (const arch of archs) {
      const recs = await benchModel({ arch, imgSize: o.imgSize, batch: slow ? 1 : o.batch, minSeconds: o.seconds, maxIters: slow ? 1 : 1000,
        tune: () => tuneWebGPUKernels({ log: (m) => process.stderr.write(m + '\n') }) });
      if (tf.getBackend() === 'wasm') {
        const peak = wasmSimdCeiling(wasmThreadsInUse(), ghz ?? 3);
        for (const r of recs) if (r.gflopsPerSec != null) r.ceilingShare = r.gflopsPerSec / peak;
      }
      recs.forEach(emit);
      if (torch && 'python' in torch && !slow) {
        const key = `${arch}:${o.imgSize}:${o.batch}`;
        if (!peers.has(key)) {
          try {
            const p = benchTorchCpu({ arch, imgSize: o.imgSize, batch: o.batch, threads: o.peerThreads ?? machineThreads(), minSeconds: o.seconds, python: torch.python });
            peers.set(key, p);
            if (o.json) emit(p);
          } catch (e) {
            process.stderr.write(`peer torch failed on ${arch}: ${(e as Error).message}\n`);
            peers.set(key, null);
          }
        }
        const p = peers.get(key);
        if (p && !o.json) formatPeer(recs, p).forEach((l) => process.stdout.write(l + '\n'));
      }
    }
  }
  const shared = path.resolve(repoRoot(), '../shared/datasets/parts');
  const photos = o.data ? resolveUserPath(o.data) : existsSync(shared) ? shared : await ensureDemoDataset();
  emit(await benchDecode(photos, o.imgSize, o.seconds));
});
