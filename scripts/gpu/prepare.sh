#!/usr/bin/env bash
# Builds what a GPU-machine run needs, on this (CPU) machine, in ignored folders of the repo:
#   .gl/          Debian's Vulkan loader and GL dispatch libraries (.deb), unpacked there with dpkg -x
#   .gpu-carry/   node.xz (this Node binary),
#                 app.tar.xz (entry points bundled with esbuild, dawn.node of the `webgpu` package, sharp + libvips), data/parts (photos)
# Then: run tool with carry [".gl", ".gpu-carry"] and command `bash scripts/gpu/run-on-device.sh`.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
C=.gpu-carry
for d in /.gl/ /.gpu-carry/; do grep -qxF "$d" .git/info/exclude || echo "$d" >>.git/info/exclude; done

# 1. Vulkan loader + GL libraries (x86-64 debs, whatever this machine's architecture).
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update >/dev/null
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi

rm -rf "$C"
mkdir -p "$C/app/node_modules" "$C/data"

# 2. Node (the machine has none). xz: ~99 MB -> ~25 MB.
xz -T0 -6 -c "$(command -v node)" >"$C/node.xz"

# 3. Entry points, bundled: no pnpm/tsx/node_modules needed there. Native packages stay external.
ESBUILD=$(ls node_modules/.pnpm/esbuild@*/node_modules/esbuild/bin/esbuild | head -1)
bundle() { # entry outname
  # --ignore-annotations: tfjs packages list sideEffects files that omit their node bundles, so
  # esbuild would drop bare imports such as '@tensorflow/tfjs-backend-cpu' (backend registration).
  "$ESBUILD" "$1" --bundle --ignore-annotations --platform=node --format=esm --target=node20 --outfile="$C/app/$2.mjs" \
    --external:webgpu --external:sharp --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu \
    --banner:js="import { createRequire as __parts_cr } from 'node:module'; const require = __parts_cr(import.meta.url);" \
    --log-level=error
}
bundle packages/backend/bench/webgpu-check.ts webgpu-check
bundle packages/train/bench/webgpu-profile.ts webgpu-profile
bundle packages/backend/bench/webgpu-microbench.ts webgpu-microbench
# The project's CLIs (initBackend('webgpu') registers our kernels).
bundle packages/train/src/cli/train.ts train-cli
bundle packages/train/src/cli/bench.ts bench-cli

# 4. Native modules, with their JS, compressed.
WG=$(ls -d node_modules/.pnpm/webgpu@*/node_modules/webgpu | head -1)
mkdir -p "$C/app/node_modules/webgpu/dist/linux-x64"
cp "$WG/index.js" "$WG/package.json" "$C/app/node_modules/webgpu/"
cp "$WG/dist/linux-x64/dawn.node" "$C/app/node_modules/webgpu/dist/linux-x64/"
SH=$(ls -d node_modules/.pnpm/sharp@*/node_modules | head -1)
for p in sharp detect-libc semver @img; do cp -rL "$SH/$p" "$C/app/node_modules/"; done
rm -rf "$C/app/node_modules/@types"
# Bundles compress ~10x: everything under app/ travels as one archive (64 MiB limit).
tar -C "$C/app" -cJf "$C/app.tar.xz" .
rm -rf "$C/app"

# 5. The parts photos (../shared does not travel).
cp -r ../shared/datasets/parts "$C/data/parts"

du -sh .gl "$C" "$C"/* | sed 's/^/prepare: /'
