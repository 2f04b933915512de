#!/usr/bin/env bash
# Runs on the GPU machine, in the repo root, after scripts/gpu/prepare.sh built the carry here:
#   run tool: carry [".gl", ".gpu-carry"], command "bash scripts/gpu/run-on-device.sh", timeout ~540 s.
# Steps by priority (each under its own timeout, a failure does not stop the next; later steps get
# what is left of the budget): numeric check vs cpu, Tiny VGG step profile with autotuned kernels,
# PyTorch CUDA reference, the profile with default kernels, `bench` Tiny VGG, `train --backend webgpu`,
# profile with Dawn's robustness off, kernel microbenchmark, ResNet50/EfficientNet step profiles,
# `bench` of the pretrained bases, stock-kernel before-numbers (skipped by default).
# Writes $OUT/log.txt, $OUT/summary.txt and $OUT/results.tar.gz (JSON, run folder files).
# GPU_SKIP="step names" skips steps (default: the stock before-numbers call 1 measured);
# GPU_CORE_VARIANTS (default none), GPU_TILE_VARIANTS="forward:8x8:vec4,filterGrad:8x4 ..." add
# whole-step Tiny VGG profiles; GPU_PROFILE_ARCHS (default resnet50 efficientnet) profiles other models.
# GPU_LOCAL=1: a dry run on a machine without the GPU (lavapipe or no adapter), small sizes.
set -uo pipefail
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
R=/tmp/gpu-results
rm -rf "$R" && mkdir -p "$R"
C=.gpu-carry
exec > >(tee -a "$OUT/log.txt") 2>&1
T0=$(date +%s)
LOCAL=${GPU_LOCAL:-0}
IMG=${GPU_IMG:-256}
BATCH=${GPU_BATCH:-32}
[ "$LOCAL" = 1 ] && { IMG=${GPU_IMG:-32}; BATCH=${GPU_BATCH:-1}; }
PROFILE_ITERS=${GPU_PROFILE_ITERS:-20}
[ "$LOCAL" = 1 ] && PROFILE_ITERS=1
# The two ratios (ours / PyTorch, training and forward), from the tuned and untuned profiles and PyTorch (same call, same GPU).
ratios() {
  [ -f "$R/torch.json" ] || return 0
  node -e '
    const fs = require("fs"); const R = process.argv[1];
    const t = JSON.parse(fs.readFileSync(R + "/torch.json", "utf8")).runs[0]; // TF32 default, as PyTorch ships
    for (const name of ["profile-ours", "profile-tuned", "profile-defaults"]) {
      const f = R + "/" + name + ".json";
      if (!fs.existsSync(f)) continue;
      const p = JSON.parse(fs.readFileSync(f, "utf8"));
      const ips = (ms) => (p.batch * 1000) / ms;
      console.log(`RATIO ${name}: train ${ips(p.stepMs).toFixed(0)} / ${t.trainImagesPerSec.toFixed(0)} img/s = ${(ips(p.stepMs) / t.trainImagesPerSec).toFixed(2)}x, ` +
        `forward ${ips(p.fwdMs).toFixed(0)} / ${t.forwardImagesPerSec.toFixed(0)} img/s = ${(ips(p.fwdMs) / t.forwardImagesPerSec).toFixed(2)}x (PyTorch TF32 default)`);
    }' "$R" || true
}
finish() {
  echo "== done in $(( $(date +%s) - T0 )) s"
  grep -E '^(SUMMARY|torch |wall:|kernel GPU time|numeric check|FAIL|  conv[0-9] |  dense |  readback|backend:|webgpu |RUN |profile:|programs dispatched|  \[[0-9]+/[0-9]+\] )' "$OUT/log.txt" >"$OUT/summary.txt" || true
  ratios | tee -a "$OUT/summary.txt"
  [ -n "${TUNE_CACHE:-}" ] && cp "$TUNE_CACHE" "$R/" 2>/dev/null
  tar -C "$R" -czf "$OUT/results.tar.gz" . 2>/dev/null || true
}
trap finish EXIT
# Kernel autotuning: on for the hardware adapter anyway; in a lavapipe dry run too, on every shape.
# A fresh cache unless the caller names one (then it is used as it is).
if [ -z "${PARTS_WEBGPU_TUNE_CACHE:-}" ]; then
  export PARTS_WEBGPU_TUNE_CACHE=/tmp/gpu-tune/webgpu-kernels.json
  rm -f "$PARTS_WEBGPU_TUNE_CACHE"
fi
TUNE_CACHE=$PARTS_WEBGPU_TUNE_CACHE
[ "$LOCAL" = 1 ] && export PARTS_WEBGPU_AUTOTUNE=${PARTS_WEBGPU_AUTOTUNE:-1} PARTS_WEBGPU_TUNE_MIN_FLOPS=${PARTS_WEBGPU_TUNE_MIN_FLOPS:-0}
BUDGET=${GPU_BUDGET:-520} # seconds for all steps: later steps get what is left
step() { # name timeout cmd...
  local name=$1 t=$2; shift 2
  local left=$(( BUDGET - ($(date +%s) - T0) ))
  [ "$left" -lt "$t" ] && t=$left
  if [ "$t" -lt 15 ]; then echo "SUMMARY $name skipped (time budget)"; return; fi
  case " ${GPU_SKIP-bench-tinyvgg-stock profile-stock} " in *" $name "*) echo "SUMMARY $name skipped (GPU_SKIP)"; return ;; esac
  echo "== $name ($(( $(date +%s) - T0 )) s, limit $t s)"
  timeout "$t" "$@"; local rc=$?
  echo "SUMMARY $name rc=$rc"
}

# Vulkan loader (the machine has the NVIDIA ICD but no loader).
if [ "$LOCAL" != 1 ]; then
  if ! ldconfig -p | grep -q 'libvulkan.so.1'; then for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
  export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  export XDG_RUNTIME_DIR=/tmp
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,memory.used --format=csv || true
fi

# Node and the native modules.
mkdir -p /tmp/gpu-node
xz -dc "$C/node.xz" >/tmp/gpu-node/node && chmod +x /tmp/gpu-node/node
export PATH=/tmp/gpu-node:$PATH
# Unpacked inside the repo: the bundles find the repo root (pnpm-workspace.yaml) above themselves.
rm -rf "$C/app" && mkdir -p "$C/app" && tar -C "$C/app" -xJf "$C/app.tar.xz"
node --version
A=$C/app
DATA=$C/data/parts

step numeric-check 90 node $A/webgpu-check.mjs
# Tiny VGG step profile with per-shape kernel autotuning, as the product runs on a GPU: the choices
# go to $TUNE_CACHE, and every later step reuses them (or tunes the shapes that are new to it).
PARTS_PROFILE_ITERS=$PROFILE_ITERS step profile-ours 90 node $A/webgpu-profile.mjs "$IMG" "$BATCH" --json "$R/profile-ours.json"
[ "$LOCAL" = 1 ] || step torch-reference 100 python3 packages/train/bench/torch_reference.py --img-size "$IMG" --batch "$BATCH" --json "$R/torch.json"
# A fresh process on the choices just cached, as every later run on this GPU: no tuning in its heap.
PARTS_PROFILE_ITERS=$PROFILE_ITERS step profile-tuned 60 node $A/webgpu-profile.mjs "$IMG" "$BATCH" --json "$R/profile-tuned.json"
# The same step with the fixed default variants: what tuning gained.
PARTS_WEBGPU_AUTOTUNE=0 PARTS_PROFILE_ITERS=$PROFILE_ITERS step profile-defaults 40 node $A/webgpu-profile.mjs "$IMG" "$BATCH" --json "$R/profile-defaults.json"
if [ -f $A/bench-cli.mjs ]; then
  step bench-tinyvgg-ours 45 node $A/bench-cli.mjs --backend webgpu --arch tinyvgg --batch "$BATCH" --img-size "$IMG" --seconds 3 --data "$DATA"
fi
if [ -f $A/train-cli.mjs ]; then
  # (Batch 4 in a dry run: lavapipe times each of ~20 kernel variants per new shape in ~0.1 s.)
  step train 120 node $A/train-cli.mjs --arch tinyvgg --backend webgpu --data "$DATA" --epochs "${GPU_EPOCHS:-2}" \
    --batch-size "$([ "$LOCAL" = 1 ] && echo 4 || echo 16)" --img-size "$IMG" --out /tmp/gpu-runs --name webgpu
  run=$(ls -td /tmp/gpu-runs/*webgpu* 2>/dev/null | head -1)
  if [ -n "$run" ]; then
    mkdir -p "$R/run" && cp "$run"/*.json "$R/run/" 2>/dev/null
    echo "RUN $(basename "$run") backend: $(node -e "const c=require('$run/config.json');console.log(JSON.stringify(c.backend))")"
    echo "RUN metrics: $(tr -d '\n ' <"$run/metrics.json" 2>/dev/null)"
  fi
fi
# Dawn's bounds clamping on every buffer and workgroup-array access costs ALU in the GEMM loops.
# (A dry run compiles every pipeline again on lavapipe without robustness: slower than the GPU.)
PARTS_DAWN_FLAGS='enable-dawn-features=disable_robustness' PARTS_PROFILE_ITERS=$PROFILE_ITERS \
  step profile-norobust "$([ "$LOCAL" = 1 ] && echo 120 || echo 40)" node $A/webgpu-profile.mjs "$IMG" "$BATCH"
# Every variant of every Tiny VGG layer and op in isolation (the autotuner's view, as a table).
[ "$LOCAL" = 1 ] || PARTS_MICRO_ITERS=5 step microbench 100 node $A/webgpu-microbench.mjs "$BATCH" --json "$R/microbench.json"
# Whole-step profiles with one inner loop or tile set forced for every shape (the environment beats tuning).
for core in ${GPU_CORE_VARIANTS-}; do
  PARTS_CONV_CORE=$core PARTS_PROFILE_ITERS=$PROFILE_ITERS step "profile-core-$core" 40 node $A/webgpu-profile.mjs "$IMG" "$BATCH" --json "$R/profile-core-$core.json"
done
for tiles in ${GPU_TILE_VARIANTS:-}; do
  PARTS_CONV_TILES=$tiles PARTS_PROFILE_ITERS=$PROFILE_ITERS step "profile-tiles-$tiles" 40 node $A/webgpu-profile.mjs "$IMG" "$BATCH"
done
# The pretrained bases train 20-100x slower than they run forward: per-kernel GPU time, JS recording
# time and dispatch thread counts of one step say whether kernels or per-kernel overhead are to blame.
# Untuned unless GPU_ARCH_TUNE=1 (~60 shapes each: a minute or more of this call).
for arch in ${GPU_PROFILE_ARCHS-resnet50 efficientnet}; do
  PARTS_WEBGPU_AUTOTUNE=${GPU_ARCH_TUNE:-0} PARTS_PROFILE_ITERS=1 step "profile-$arch" 120 node $A/webgpu-profile.mjs "$IMG" "$BATCH" --arch "$arch" --json "$R/profile-$arch.json"
done
if [ -f $A/bench-cli.mjs ]; then
  # Untuned here unless GPU_BASES_TUNE=1: four bases' shapes would take minutes of this call to time.
  [ "$LOCAL" = 1 ] || PARTS_WEBGPU_AUTOTUNE=${GPU_BASES_TUNE:-0} step bench-bases-ours 100 node $A/bench-cli.mjs --backend webgpu \
    --arch vgg16,resnet50,inception,efficientnet --batch "$BATCH" --img-size "$IMG" --seconds 2 --data "$DATA"
  # The same CLI with the stock tfjs-backend-webgpu kernels (the before of `pnpm bench`; call 1 has it).
  PARTS_WEBGPU_KERNELS=stock step bench-tinyvgg-stock 60 node $A/bench-cli.mjs --backend webgpu --arch tinyvgg --batch "$BATCH" --img-size "$IMG" --seconds 3 --data "$DATA"
fi
PARTS_WEBGPU_KERNELS=stock PARTS_PROFILE_ITERS=1 step profile-stock 60 node $A/webgpu-profile.mjs "$IMG" "$BATCH" --json "$R/profile-stock.json"
