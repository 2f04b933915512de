#!/usr/bin/env bash
# Runs the WebGPU kernel tests (packages/backend/test/webgpu-kernels.test.ts) on a machine without a
# GPU, through Mesa's lavapipe (a software Vulkan driver) — correctness only, never timings. CI runs
# this after the main tests; `pnpm test` alone skips those tests when no adapter exists.
#
# lavapipe is fetched once as Debian packages into .cache/lavapipe and unpacked there (dpkg -x, no
# system install). Dawn refuses bookworm's lavapipe 22.3, so Mesa comes from bookworm-backports (25.x).
# With a usable Vulkan driver already present (VK_DRIVER_FILES set, or a GPU), the tests just run.
# If the packages cannot be fetched (no network), it says so and exits 0: the tests are skipped, not failed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD/.cache/lavapipe
LIB=$ROOT/root/usr/lib/x86_64-linux-gnu

fetch() {
  [[ "$(uname -m)" == x86_64 ]] || { echo "test-webgpu: lavapipe packages are fetched for x86-64 only" >&2; return 1; }
  command -v apt-get >/dev/null && command -v dpkg >/dev/null || { echo "test-webgpu: needs apt-get and dpkg (Debian/Ubuntu)" >&2; return 1; }
  rm -rf "$ROOT" && mkdir -p "$ROOT/lists/partial" "$ROOT/debs" "$ROOT/root"
  echo "deb http://deb.debian.org/debian bookworm main" >"$ROOT/sources.list"
  echo "deb http://deb.debian.org/debian bookworm-backports main" >>"$ROOT/sources.list"
  local o=(-o "Dir::Etc::SourceList=$ROOT/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$ROOT/lists"
    -o APT::Architecture=amd64 -o APT::Architectures=amd64 -o Debug::NoLocking=1)
  # (set -e does not apply inside a function called from an if: each step checks itself)
  apt-get "${o[@]}" update -qq >/dev/null || return 1
  # mesa-vulkan-drivers and the libdrm it needs from backports; the rest of its run-time closure
  # that a minimal Debian image may lack, from bookworm.
  (cd "$ROOT/debs" && apt-get "${o[@]}" download -qq \
    mesa-vulkan-drivers/bookworm-backports libdrm2/bookworm-backports libdrm-amdgpu1/bookworm-backports \
    libvulkan1 libllvm15 libedit2 libz3-4 libxml2 libicu72 libelf1 libwayland-client0 libx11-6 libx11-xcb1 \
    libxcb1 libxcb-dri3-0 libxcb-present0 libxcb-randr0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0 libxshmfence1 \
    libxau6 libxdmcp6 libbsd0 libmd0 libffi8 libtinfo6) || return 1
  for f in "$ROOT"/debs/*.deb; do dpkg -x "$f" "$ROOT/root" || return 1; done
  [[ -f "$LIB/libvulkan_lvp.so" ]] || return 1
  printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' "$LIB/libvulkan_lvp.so" >"$ROOT/lvp_icd.json"
  touch "$ROOT/ok"
}

if [[ -z "${VK_DRIVER_FILES:-}" ]]; then
  if [[ ! -f "$ROOT/ok" ]] && ! fetch; then
    echo "test-webgpu: SKIPPED — could not fetch Mesa's lavapipe (offline?); the WebGPU kernel tests did not run" >&2
    exit 0
  fi
  export VK_DRIVER_FILES=$ROOT/lvp_icd.json
  export LD_LIBRARY_PATH=$LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
# Fails (instead of skipping) when no adapter comes up: this script exists to run these tests.
export PARTS_REQUIRE_WEBGPU=1
exec pnpm exec vitest run packages/backend/test/webgpu-kernels.test.ts packages/models/test/relu-conv.test.ts packages/models/test/swish-activation.test.ts packages/models/test/batch-norm-webgpu.test.ts packages/models/test/webgpu-memory.test.ts "$@"
