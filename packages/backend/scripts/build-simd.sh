#!/usr/bin/env bash
# Compiles assembly/kernels.ts (AssemblyScript) into the two modules the wasm backend loads: one that
# imports a shared memory (the threaded tfjs build) and one that imports a plain memory (the
# single-threaded build). The .wasm files are committed; packages/backend/test/simd-kernels.test.ts
# rebuilds them and fails when they differ from the source.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-src/wasm-kernels/simd}"
mkdir -p "$out"
common=(assembly/kernels.ts -O3 --noAssert --runtime stub --importMemory --noExportMemory
  --initialMemory 1 --maximumMemory 65536 --enable simd)
node_modules/.bin/asc "${common[@]}" --sharedMemory --enable threads -o "$out/kernels-shared.wasm"
node_modules/.bin/asc "${common[@]}" -o "$out/kernels-plain.wasm"
