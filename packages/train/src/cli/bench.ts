#!/usr/bin/env tsx
import path from 'node:path';
import { existsSync } from 'node:fs';
import { Command } from 'commander';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, onednnKernelsState, startOnednnKernels, stopOnednnKernels, tuneWebGPUKernels, wasmThreadsInUse } from '@parts/backend';
import { ensureDemoDataset } from '@parts/data';
import { addSettingOptions, BENCH_SETTINGS, repoRoot, resolveUserPath, runCli } from '@parts/cli';
import { listArchs } from '@parts/models';
import { benchDecode, benchModel, benchTorchCpu, cpuGHz, cpuVendor, findTorchPython, formatBench, formatPeer, machineThreads, TORCH_TUNED_ENV, wasmSimdCeiling, wasmSimdFlopPerCycle, type BenchRecord, type PeerRecord } from '../bench';
import { benchOnnxForward } from '../bench-onnx';

const program = addSettingOptions(
  new Command('bench')
    .description('Throughput of forward pass and training step per backend and architecture, and of image decoding.'),
  BENCH_SETTINGS,
);

runCli(program, async (o) => {
  const emit = (r: BenchRecord | PeerRecord) => process.stdout.write((o.json ? JSON.stringify(r) : formatBench(r as BenchRecord)) + '\n');
  if (o.peer != null && o.peer !== 'torch') throw new Error(`--peer: unknown peer '${o.peer}' (known: torch)`);
  const found = o.peer === 'torch' ? findTorchPython() : null;
  if (found && 'error' in found) process.stderr.write(`peer torch skipped: ${found.error}\n`);
  const torchPython = found && 'python' in found ? found.python : null;
  const peers = new Map<string, PeerRecord | null>();
  const peerDone = new Set<string>();
  const ghz = o.ghz ?? cpuGHz();
  const vendor = cpuVendor();
  process.stderr.write(`SIMD peak: ${wasmSimdFlopPerCycle(vendor)} FLOP/cycle per thread (${vendor ?? 'unknown CPU vendor'}) at ${o.ghz ? `${o.ghz} GHz (--ghz)` : ghz ? `${ghz.toFixed(2)} GHz (/proc/cpuinfo; nominal, turbo may be higher)` : 'unknown clock, 3 GHz assumed (--ghz to set)'}\n`);
  // Without --backend: whichever auto picks, then wasm and cpu for comparison.
  const wanted: string[] = o.backend
    ? o.backend.split(',')
    : [...new Set([(await initBackend('auto', (m) => process.stderr.write(m + '\n'))).name, 'wasm', 'cpu'])];
  const archs: string[] = o.arch === 'all' ? listArchs().map((a) => a.name) : o.arch.split(',');
  for (const backend of wanted) {
    if (backend === 'onnx') {
      // ONNX Runtime's forward pass (the engine of predict and serve), compared with the peer's figures.
      if (!tf.engine().backendName) await initBackend('cpu', () => {});
      for (const arch of archs) {
        try {
          const r = await benchOnnxForward({ arch, imgSize: o.imgSize, batch: o.batch, minSeconds: o.seconds });
          emit(r);
          const p = peers.get(`${arch}:${o.imgSize}:${o.batch}`);
          if (p && !o.json) formatPeer([r], p).forEach((l) => process.stdout.write(l + '\n'));
        } catch (e) {
          process.stderr.write(`skip onnx ${arch}: ${(e as Error).message}\n`);
        }
      }
      continue;
    }
    try {
      // 'wasm-plain': wasm with its own kernels only, to compare with the oneDNN kernels in one run.
      await initBackend((backend === 'wasm-plain' ? 'wasm' : backend) as never, (m) => process.stderr.write(m + '\n'));
      if (backend === 'wasm-plain') stopOnednnKernels();
      else if (backend === 'wasm') startOnednnKernels(wasmThreadsInUse());
    } catch (e) {
      process.stderr.write(`skip backend ${backend}: ${(e as Error).message}\n`);
      continue;
    }
    const slow = tf.getBackend() === 'cpu';
    for (const arch of archs) {
      const usePeer = torchPython != null && !slow;
      const key = `${arch}:${o.imgSize}:${o.batch}`;
      let recs: BenchRecord[] = [];
      for (let rep = 0; rep < Math.max(1, o.repeat); rep++) {
        const run = await benchModel({ arch, imgSize: o.imgSize, batch: slow ? 1 : o.batch, minSeconds: o.seconds, maxIters: slow ? 1 : 1000,
          tune: () => tuneWebGPUKernels({ log: (m) => process.stderr.write(m + '\n') }) });
        if (o.repeat > 1) run.forEach((r) => process.stderr.write(`  run ${rep + 1}: ${formatBench(r)}\n`));
        recs = recs.length ? recs.map((r, i) => (run[i]!.imagesPerSec > r.imagesPerSec ? run[i]! : r)) : run;
        // The peer is measured alongside the first backend only; later backends are compared with its figures.
        if (!usePeer || peers.get(key) === null || peerDone.has(key)) continue;
        try {
          const peerOpts = { arch, imgSize: o.imgSize, batch: o.batch, threads: o.peerThreads ?? machineThreads(), minSeconds: o.seconds, python: torchPython! };
          // The peer at its best: its defaults, then OpenMP passive waiting and no allocator trimming.
          const plain = benchTorchCpu(peerOpts);
          const tuned = benchTorchCpu({ ...peerOpts, env: { ...TORCH_TUNED_ENV } });
          for (const [what, q] of [['defaults', plain], [Object.entries(TORCH_TUNED_ENV).map(([k, v]) => `${k}=${v}`).join(' '), tuned]] as const) {
            process.stderr.write(`  peer ${q.device} (${what}): forward ${q.forwardImagesPerSec.toFixed(2)} img/s, train ${q.trainImagesPerSec.toFixed(2)} img/s\n`);
          }
          const p = { ...plain, forwardImagesPerSec: Math.max(plain.forwardImagesPerSec, tuned.forwardImagesPerSec), trainImagesPerSec: Math.max(plain.trainImagesPerSec, tuned.trainImagesPerSec) };
          const best = peers.get(key);
          peers.set(key, best ? { ...best, forwardImagesPerSec: Math.max(best.forwardImagesPerSec, p.forwardImagesPerSec), trainImagesPerSec: Math.max(best.trainImagesPerSec, p.trainImagesPerSec) } : p);
        } catch (e) {
          process.stderr.write(`peer torch failed on ${arch}: ${(e as Error).message}\n`);
          peers.set(key, null);
        }
      }
      if (tf.getBackend() === 'wasm') {
        const peak = wasmSimdCeiling(wasmThreadsInUse(), ghz ?? 3);
        for (const r of recs) if (r.gflopsPerSec != null) r.ceilingShare = r.gflopsPerSec / peak;
      }
      if (tf.getBackend() === 'wasm' && onednnKernelsState().active) for (const r of recs) r.backend = 'wasm+onednn';
      recs.forEach(emit);
      if (usePeer) {
        const p = peers.get(key);
        if (p && o.json) emit(p);
        if (p && !o.json) formatPeer(recs, p).forEach((l) => process.stdout.write(l + '\n'));
        peerDone.add(key);
      }
    }
  }
  const shared = path.resolve(repoRoot(), '../shared/datasets/parts');
  const photos = o.data ? resolveUserPath(o.data) : existsSync(shared) ? shared : await ensureDemoDataset();
  emit(await benchDecode(photos, o.imgSize, o.seconds));
});
