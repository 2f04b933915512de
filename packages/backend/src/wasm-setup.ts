import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { envSetting } from '@parts/cli';

let pathsSet = false;

/**
 * Points the wasm backend at the .wasm binaries in its own package's dist folder, so they are found
 * wherever this code runs from (tsx, vitest workers, a bundled CLI). Must run before the backend starts.
 */
export function pointWasmAtItsBinaries(): void {
  if (pathsSet) return;
  const require = createRequire(import.meta.url);
  const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  setWasmPaths(dist + path.sep);
  pathsSet = true;
}

/**
 * Threads the wasm backend runs XNNPACK on: PARTS_WASM_THREADS if set (1 = the single-threaded
 * SIMD build), else every logical CPU (tfjs caps it at 8).
 */
export function wantedWasmThreads(): number {
  const n = envSetting('PARTS_WASM_THREADS');
  if (n !== undefined) return n;
  return Math.min(8, os.availableParallelism?.() ?? os.cpus().length);
}

/**
 * Writes `text` to `file` so that a reader sees either no file or all of it: a temporary name in
 * the same folder first, then a rename.
 */
function writeWhole(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/**
 * Gives the file in `dir` that a worker-script text runs from (`wrap` turns the text into the
 * file's contents). tfjs makes a fresh Blob of the same worker script for each of the pool's 8
 * workers, and each worker reads its file on its own thread, possibly while the next are created.
 * Rewriting one shared file for every worker (truncate, then write) let a worker that read it in
 * between get an empty script: it ran, exited with code 0 and never told the pool it had loaded, and
 * the start-up waited for it forever. The 8 writes take milliseconds and a worker first runs tens
 * of milliseconds after it is created, so it takes a loaded machine (the main thread descheduled, or
 * its write held up, between a truncation and its write) to open that gap. So each distinct text is
 * written once, whole, and the same file is handed out again for the same text.
 */
export function workerScriptFiles(dir: string, wrap: (text: string) => string): (text: string) => string {
  const files = new Map<string, string>();
  return (text) => {
    let file = files.get(text);
    if (file == null) {
      file = path.join(dir, `worker-${files.size}.cjs`);
      writeWhole(file, wrap(text));
      files.set(text, file);
    }
    return file;
  };
}

const workerThreads = createRequire(import.meta.url)('node:worker_threads') as { Worker: typeof Worker };

/**
 * Runs `start` while watching the worker_threads Workers created meanwhile whose script
 * `isPoolScript` accepts (Emscripten's thread pool takes the constructor from the worker_threads
 * module when the wasm module starts; workers other code creates at the same time are left alone),
 * and rejects, naming the worker and how it ended, as soon as one exits or fails before it has
 * posted 'loaded': the pool's readiness waits for every worker, so such a start would otherwise
 * hang without a word. The watched workers are terminated then, so that they do not keep Node alive.
 */
export async function failOnPoolWorkerLost<T>(start: () => Promise<T>, isPoolScript: (script: string) => boolean): Promise<T> {
  const NativeWorker = workerThreads.Worker;
  const watched: { worker: Worker; unwatch(): void }[] = [];
  let fail!: (e: Error) => void;
  const lost = new Promise<never>((_, reject) => (fail = reject));
  lost.catch(() => {}); // only ever awaited through the race below
  class WatchedWorker extends NativeWorker {
    constructor(...args: ConstructorParameters<typeof Worker>) {
      super(...args);
      if (!isPoolScript(String(args[0]))) return;
      const name = `wasm threads: worker ${watched.length + 1} of the thread pool (script ${String(args[0])})`;
      let loaded = false;
      const onMessage = (m: unknown) => {
        if ((m as { cmd?: unknown } | null)?.cmd === 'loaded') loaded = true;
      };
      const onExit = (code: number) => {
        if (!loaded) fail(new Error(`${name} exited with code ${code} before it had loaded the wasm module; the backend cannot start`));
      };
      const onError = (e: Error) => {
        if (!loaded) fail(new Error(`${name} failed before it had loaded the wasm module: ${e.message}`));
      };
      this.on('message', onMessage).on('exit', onExit).on('error', onError);
      watched.push({ worker: this, unwatch: () => this.off('message', onMessage).off('exit', onExit).off('error', onError) });
    }
  }
  workerThreads.Worker = WatchedWorker;
  try {
    return await Promise.race([start(), lost]);
  } catch (e) {
    for (const { worker } of watched) void worker.terminate();
    throw e;
  } finally {
    workerThreads.Worker = NativeWorker;
    // Emscripten's start-up also sets the global Worker from worker_threads (to the watched class here).
    const global = globalThis as { Worker?: unknown };
    if (global.Worker === WatchedWorker) global.Worker = NativeWorker;
    for (const { unwatch } of watched) unwatch();
  }
}

/**
 * Gives up a backend start that will never settle (a pool worker was lost): tfjs keeps the pending
 * start, and tf.ready() and the next backend's first operations wait on it, so after a failed wasm
 * start `--backend auto` would hang on cpu. Removing the backend makes that start obsolete; it is
 * registered again with its own factory, so a later start can try afresh.
 */
export function abandonBackendStart(name: string): void {
  const engine = tf.engine() as unknown as {
    registry: Record<string, tf.KernelBackend | undefined>;
    registryFactory: Record<string, { factory: () => tf.KernelBackend | Promise<tf.KernelBackend>; priority: number } | undefined>;
  };
  const entry = engine.registryFactory[name];
  // A backend that is up (or unknown) has no pending start to give up.
  if (!entry || engine.registry[name]) return;
  tf.removeBackend(name);
  tf.registerBackend(name, entry.factory, entry.priority);
}

/**
 * Starts tfjs' wasm backend, on `threads` threads when more than one is asked for.
 *
 * tfjs-backend-wasm ships a pthreads (threaded SIMD) build but never uses it in Node: its
 * WASM_HAS_MULTITHREAD_SUPPORT flag is false there, and with the flag forced on two things still
 * stop it. (1) Emscripten's thread workers are created from Blob URLs (the worker script, and the
 * module's own source posted to each worker), which Node's worker_threads cannot load; here the
 * Blob texts are caught as tfjs creates them during start-up and written to a temporary folder
 * (each file once and whole before any worker can read it: see workerScriptFiles), the worker loads
 * the module from that file, and the few bundle-level names the module's source refers to (fs,
 * path, os, perf_hooks) are defined in the worker. (2) tfjs sizes its thread pool as
 * min(asked, logical CPUs / 2), assuming two hardware threads per core, which gives 1 thread on a
 * 2-core machine without SMT; the CPU count it reads (os.cpus() in Node) is reported doubled for
 * the duration of start-up so that the asked-for count is used. A pool worker that ends before it
 * has loaded the module makes the start fail with its name instead of hang (failOnPoolWorkerLost).
 * Every patch is undone and the temporary folder removed once the backend is up.
 */
export async function startWasmBackend(threads = wantedWasmThreads()): Promise<void> {
  pointWasmAtItsBinaries();
  if (tf.engine().registry['wasm'] != null || threads <= 1) {
    if (!(await tf.setBackend('wasm'))) throw new Error(`tf.setBackend('wasm') returned false`);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parts-wasm-threads-'));
  const NativeBlob = globalThis.Blob;
  const nativeCreateObjectURL = URL.createObjectURL;
  const nativeCpus = os.cpus;
  const texts = new WeakMap<Blob, string>();
  const modulePath = path.join(dir, 'tfjs-backend-wasm-threaded-simd.js');
  class RecordingBlob extends NativeBlob {
    constructor(...args: ConstructorParameters<typeof Blob>) {
      super(...args);
      const parts: unknown[] | undefined = args[0];
      if (parts?.every((p) => typeof p === 'string')) {
        const text = (parts as string[]).join('');
        texts.set(this, text);
        // tfjs' copy of the module's source for the workers (its `mainScriptUrlOrBlob`).
        if (text.startsWith('var WasmBackendModuleThreadedSimd')) writeWhole(modulePath, text);
      }
    }
  }
  // The worker script: defines what the module's source expects from the bundle around it, and
  // loads the module from the file written above instead of from the posted Blob.
  const workerFile = workerScriptFiles(dir, (text) => {
    const before = [
      `globalThis.require$$0 = require('fs'); globalThis.require$$1 = require('path');`,
      `globalThis.require$$3 = require('perf_hooks'); globalThis.require$$4 = require('os');`,
      `globalThis.commonjsGlobal = globalThis; globalThis.__dirname = ${JSON.stringify(dir)};`,
      `globalThis._scriptDir = ${JSON.stringify(modulePath)};`,
    ].join('\n');
    const after = `\n{ const onmessage = self.onmessage; self.onmessage = (e) => { if (e.data && e.data.cmd === 'load') e.data.urlOrBlob = ${JSON.stringify(modulePath)}; return onmessage(e); }; }\n`;
    return `${before}\n${text}${after}`;
  });
  globalThis.Blob = RecordingBlob as typeof Blob;
  URL.createObjectURL = (blob: Blob): string => {
    const text = texts.get(blob);
    return text == null ? nativeCreateObjectURL(blob) : workerFile(text);
  };
  (os as { cpus: typeof os.cpus }).cpus = () => [...nativeCpus(), ...nativeCpus()];
  try {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    setThreadsCount(threads);
    const started = await failOnPoolWorkerLost(
      () => tf.setBackend('wasm'),
      (script) => script.startsWith(dir + path.sep),
    ).catch((e: Error) => {
      abandonBackendStart('wasm');
      // Without the start-up's patches a later start must take the single-threaded build.
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      throw e;
    });
    if (!started) throw new Error(`tf.setBackend('wasm') returned false`);
    if (!fs.existsSync(modulePath)) throw new Error('wasm threads: tfjs did not create the threaded module (threaded SIMD not supported here?)');
  } finally {
    globalThis.Blob = NativeBlob;
    URL.createObjectURL = nativeCreateObjectURL;
    (os as { cpus: typeof os.cpus }).cpus = nativeCpus;
    // Every worker of the pool has loaded the module by the time the backend is up (or the start failed).
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // The thread pool's workers live as long as the backend; they must not keep Node from exiting.
  const pthreads = (tf.backend() as unknown as { wasm: { PThread?: { runningWorkers: { unref(): void }[]; unusedWorkers: { unref(): void }[] } } }).wasm.PThread;
  for (const w of [...(pthreads?.runningWorkers ?? []), ...(pthreads?.unusedWorkers ?? [])]) w.unref();
}

/** e.g. 'CPU (wasm SIMD, 2 threads)'. */
export async function describeWasmDevice(): Promise<string> {
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const threads = getThreadsCount();
  return `CPU (wasm${simd ? ' SIMD' : ''}, ${threads} thread${threads === 1 ? '' : 's'})`;
}

/** Threads the running wasm backend uses (1 before it starts or on the single-threaded build). */
export function wasmThreadsInUse(): number {
  return Math.max(1, getThreadsCount());
}
