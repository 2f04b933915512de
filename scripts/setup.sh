#!/usr/bin/env bash
# One-time set-up of a fresh machine: pnpm 12, the workspace's packages (frozen lockfile), and, when
# running as root on Debian/Ubuntu, the system packages the tests use (Chromium for the upload-page
# browser test, DejaVu fonts so charts render text, Prometheus for promtool's check of the example
# alert rules, python3-onnx for the ONNX export's onnx.checker test, PostgreSQL for the tests of the
# shared store, started by scripts/postgres.sh, libdnnl-dev with g++ and make for the oneDNN training
# kernels addon, which is built here). Safe to run again: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=12.21.0
if ! command -v pnpm >/dev/null 2>&1 || [[ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]]; then
  echo "setup: installing pnpm $PNPM_VERSION"
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null
fi

need_pkgs=()
[[ -x /usr/bin/chromium ]] || need_pkgs+=(chromium)
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || need_pkgs+=(nginx) # the fleet test: replicas behind nginx (run unprivileged from a temp prefix)
[[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || need_pkgs+=(fonts-dejavu-core)
command -v promtool >/dev/null 2>&1 || need_pkgs+=(prometheus) # promtool checks deploy/prometheus/alerts.yml
/usr/bin/python3 -c 'import onnx' >/dev/null 2>&1 || need_pkgs+=(python3-onnx)
compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null || need_pkgs+=(postgresql) # scripts/postgres.sh: the --db tests
[[ -e /usr/include/oneapi/dnnl/dnnl.hpp ]] || need_pkgs+=(libdnnl-dev) # the oneDNN training kernels addon
command -v g++ >/dev/null 2>&1 || need_pkgs+=(g++)
command -v make >/dev/null 2>&1 || need_pkgs+=(make)
if ((${#need_pkgs[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian packages: ${need_pkgs[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  else
    echo "setup: optional system packages missing (${need_pkgs[*]}); the browser test is skipped without chromium, the alert-rules check without promtool, the onnx.checker test without python3-onnx, the PostgreSQL tests without postgresql, the oneDNN kernels without libdnnl-dev" >&2
  fi
fi

# tfjs-node(-gpu) are optional: their install scripts download libtensorflow and fail offline;
# pnpm skips them and the backend loader falls through to WebGPU/wasm/cpu.
# onnxruntime-node (optional too) ships its CPU library in the package; its install script would
# only download CUDA files, so it is told to skip (pnpm-workspace.yaml does not run it either).
export ONNXRUNTIME_NODE_INSTALL=skip
# Native addons (better-sqlite3 where no prebuilt binary can be fetched) build with node-gyp; offline it
# cannot download Node's headers, so point it at the headers installed beside this Node when there are.
node_prefix="$(dirname "$(dirname "$(command -v node)")")"
if [[ -z "${npm_config_nodedir:-}" && -e "$node_prefix/include/node/node.h" ]]; then
  export npm_config_nodedir="$node_prefix"
fi
set +e
pnpm install --frozen-lockfile --reporter=append-only 2>&1 | grep -vE 'tfjs-node(-gpu)?@?[0-9.]* (install|postinstall)'
rc=${PIPESTATUS[0]}
set -e
[[ $rc -eq 0 ]] || { echo "setup: pnpm install failed (exit $rc)" >&2; exit "$rc"; }
# The oneDNN training kernels (packages/backend/native/onednn) where libdnnl-dev is installed; without
# them training runs on the wasm kernels, so a failed build is reported, not fatal.
bash packages/backend/scripts/build-onednn.sh || echo "setup: the oneDNN addon did not build; training uses the wasm kernels" >&2
echo "setup: done"
