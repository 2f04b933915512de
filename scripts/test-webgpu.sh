#!/usr/bin/env bash
# Runs the WebGPU kernel tests (packages/backend/test/webgpu-kernels.test.ts and the WebGPU layer
# tests in packages/models) on a machine without a GPU, through Mesa's lavapipe (a software Vulkan
# driver) — correctness only, never timings. CI runs this after the main tests; `pnpm test` alone
# skips those tests when no adapter exists. Extra arguments go to vitest (a file, `-t NAME`).
#
# lavapipe is fetched once as Debian packages into .cache/lavapipe and unpacked there (dpkg -x, no
# system install). The packages come from the machine's own apt sources (/etc/apt/sources.list,
# sources.list.d/*.list and *.sources): every URI that serves the release named in /etc/os-release
# (VERSION_CODENAME), with that release's `<codename>-backports` suite added. Dawn refuses Mesa
# older than 23 (bookworm's lavapipe is 22.3), so the newest mesa-vulkan-drivers of the release and
# its backports is taken (apt's default release is set to the backports suite), and apt computes the
# rest of its run-time closure: every package of it that is not installed at that version is
# downloaded, except the C runtime (libc6, libgcc-s1, libstdc++6: the system's own must be used).
# With a usable Vulkan driver already present (VK_DRIVER_FILES set, or a GPU), the tests just run.
# When lavapipe cannot be fetched (no apt, no network, no backports suite, no Mesa >= 23), it prints
# one line "test-webgpu: SKIPPED ... because ..." and exits 0: the tests are skipped, not failed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD/.cache/lavapipe
MIN_MESA=23
# Packages never taken from the cache: the dynamic loader and C/C++ runtime are the system's.
SYSTEM_ONLY=' libc6 libgcc-s1 libstdc++6 libc-bin '
why=''

# One line per source entry of the machine's apt configuration: "URI SUITE SIGNED-BY" (deb only).
apt_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    # deb [opt=val ...] URI SUITE COMPONENT...
    sed -e 's/#.*//' "$f" | awk '$1 == "deb" {
        signed = "-"; i = 2
        if ($2 ~ /^\[/) { while (i <= NF) { if ($i ~ /^\[?signed-by=/) { s = $i; sub(/^\[?signed-by=/, "", s); sub(/\]$/, "", s); signed = s }
                                            if ($i ~ /\]$/) { i++; break } ; i++ } }
        if (i + 1 <= NF) print $i, $(i + 1), signed }'
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    # deb822 stanzas: Types, URIs, Suites, Signed-By (a path; an inline key is not carried over).
    sed -e '/^[[:space:]]*#/d' "$f" | awk -v RS='' -F '\n' '{
        types = ""; uris = ""; suites = ""; signed = "-"; enabled = "yes"
        for (i = 1; i <= NF; i++) {
          split($i, kv, ":"); k = tolower(kv[1]); v = substr($i, length(kv[1]) + 2); gsub(/^[ \t]+|[ \t]+$/, "", v)
          if (k == "types") types = v; else if (k == "uris") uris = v; else if (k == "suites") suites = v
          else if (k == "signed-by" && v ~ /^\//) signed = v; else if (k == "enabled") enabled = tolower(v)
        }
        if (enabled == "no" || (" " types " ") !~ / deb /) next
        nu = split(uris, U, /[ \t]+/); ns = split(suites, S, /[ \t]+/)
        for (a = 1; a <= nu; a++) for (b = 1; b <= ns; b++) print U[a], S[b], signed }'
  done
}

fetch() {
  command -v apt-get >/dev/null && command -v apt-cache >/dev/null && command -v dpkg >/dev/null || { why='apt-get, apt-cache and dpkg are needed (Debian/Ubuntu)'; return 1; }
  local codename
  codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
  [[ -n "$codename" ]] || { why='/etc/os-release names no VERSION_CODENAME'; return 1; }
  local backports=$codename-backports uri suite signed lines=()
  while read -r uri suite signed; do
    [[ "$suite" == "$codename" ]] || continue
    local opt=''
    [[ "$signed" != - ]] && opt="[signed-by=$signed] "
    lines+=("deb ${opt}$uri $codename main" "deb ${opt}$uri $backports main")
  done < <(apt_sources | sort -u)
  ((${#lines[@]})) || { why="no apt source serves the release '$codename'"; return 1; }

  rm -rf "$ROOT" && mkdir -p "$ROOT/lists/partial" "$ROOT/debs" "$ROOT/root"
  printf '%s\n' "${lines[@]}" >"$ROOT/sources.list"
  local o=(-o "Dir::Etc::SourceList=$ROOT/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$ROOT/lists"
    -o "Dir::Cache=$ROOT/apt-cache" -o Debug::NoLocking=1 -o "APT::Default-Release=$backports")
  mkdir -p "$ROOT/apt-cache/archives/partial"
  # (set -e does not apply inside a function called from an if: each step checks itself)
  if ! apt-get "${o[@]}" update -qq >"$ROOT/update.log" 2>&1; then
    # Perhaps only the backports suite is missing (a release without one): try the release alone.
    printf '%s\n' "${lines[@]}" | grep -v " $backports main\$" >"$ROOT/sources.list"
    apt-get "${o[@]}" update -qq >"$ROOT/update.log" 2>&1 || { why="apt-get update failed for the configured sources of '$codename' (offline?): $(grep -m1 -E '^(E|W):' "$ROOT/update.log" || tail -n1 "$ROOT/update.log")"; return 1; }
    echo "test-webgpu: the suite $backports is not available; taking Mesa from $codename alone" >&2
  fi
  local mesa
  mesa=$(apt-cache "${o[@]}" policy mesa-vulkan-drivers 2>/dev/null | awk '$1 == "Candidate:" { print $2 }')
  [[ -n "$mesa" && "$mesa" != '(none)' ]] || { why="no mesa-vulkan-drivers package in $codename or $backports"; return 1; }
  dpkg --compare-versions "$mesa" ge "$MIN_MESA" || { why="mesa-vulkan-drivers in $codename/$backports is $mesa, and Dawn needs Mesa >= $MIN_MESA"; return 1; }

  # The run-time closure (Depends and Pre-Depends) of mesa-vulkan-drivers at that version.
  local closure pkg want have
  closure=$(apt-cache "${o[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances \
    mesa-vulkan-drivers 2>/dev/null | grep -E '^[a-z0-9]' | sort -u) || { why='apt-cache depends failed for mesa-vulkan-drivers'; return 1; }
  local get=()
  for pkg in $closure; do
    [[ "$SYSTEM_ONLY" == *" $pkg "* ]] && continue
    want=$(apt-cache "${o[@]}" policy "$pkg" 2>/dev/null | awk '$1 == "Candidate:" { print $2 }')
    [[ -n "$want" && "$want" != '(none)' ]] || continue
    have=$(dpkg-query -W -f='${Status} ${Version}' "$pkg" 2>/dev/null | awk '$3 == "installed" { print $4 }') || true
    [[ "$have" == "$want" ]] || get+=("$pkg")
  done
  echo "test-webgpu: fetching mesa-vulkan-drivers $mesa and ${#get[@]} other package(s) of its closure into .cache/lavapipe" >&2
  (cd "$ROOT/debs" && apt-get "${o[@]}" download -qq "${get[@]}" >"$ROOT/download.log" 2>&1) || { why="apt-get download failed: $(grep -m1 -E '^(E|W):' "$ROOT/download.log" || tail -n1 "$ROOT/download.log")"; return 1; }
  local f
  for f in "$ROOT"/debs/*.deb; do dpkg -x "$f" "$ROOT/root" || { why="dpkg -x failed on $(basename "$f")"; return 1; }; done
  local lvp
  lvp=$(find "$ROOT/root" -name libvulkan_lvp.so -print -quit)
  [[ -n "$lvp" ]] || { why='mesa-vulkan-drivers holds no libvulkan_lvp.so'; return 1; }
  printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' "$lvp" >"$ROOT/lvp_icd.json"
  echo "$(dirname "$lvp")" >"$ROOT/libdir"
  touch "$ROOT/ok"
}

if [[ -z "${VK_DRIVER_FILES:-}" ]]; then
  # (A cache from an older version of this script, without libdir, is fetched again.)
  if [[ ! -f "$ROOT/ok" || ! -f "$ROOT/libdir" ]] && ! fetch; then
    echo "test-webgpu: SKIPPED (the WebGPU kernel tests did not run) because lavapipe could not be fetched: $why"
    exit 0
  fi
  export VK_DRIVER_FILES=$ROOT/lvp_icd.json
  export LD_LIBRARY_PATH=$(cat "$ROOT/libdir")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
# Fails (instead of skipping) when no adapter comes up: this script exists to run these tests.
export PARTS_REQUIRE_WEBGPU=1
exec pnpm exec vitest run packages/backend/test/webgpu-kernels.test.ts packages/models/test/relu-conv.test.ts packages/models/test/swish-activation.test.ts packages/models/test/batch-norm-webgpu.test.ts packages/models/test/webgpu-memory.test.ts packages/models/test/parity-webgpu.test.ts "$@"
