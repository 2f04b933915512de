#!/usr/bin/env bash
# Builds the oneDNN kernels addon (native/onednn) with node-gyp against Debian's libdnnl-dev, into
# native/onednn/build/Release/parts_onednn.node, where the backend looks for it. Exits 0 without
# building (and says why) where oneDNN's headers or a C++ compiler are missing: the wasm kernels run
# then. node-gyp comes from the npm that ships with Node (no download); the Node headers from npm's
# `nodedir` setting when it is set (Debian's nodejs puts them under /usr/include/node), else
# node-gyp fetches them.
set -euo pipefail
cd "$(dirname "$0")/../native/onednn"
if [[ ! -e /usr/include/oneapi/dnnl/dnnl.hpp && ! -e /usr/local/include/oneapi/dnnl/dnnl.hpp ]]; then
  echo "build-onednn: oneDNN headers not found (Debian: apt-get install libdnnl-dev); the wasm kernels are used" >&2
  exit 0
fi
if ! command -v g++ >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1; then
  echo "build-onednn: g++ and make are needed (Debian: apt-get install g++ make); the wasm kernels are used" >&2
  exit 0
fi
gyp=""
npm_bin=$(command -v npm || true)
if [[ -n "$npm_bin" ]]; then
  bundled="$(dirname "$(readlink -f "$npm_bin")")/../node_modules/node-gyp/bin/node-gyp.js"
  [[ -f "$bundled" ]] && gyp="$bundled"
fi
args=(rebuild)
nodedir=$(npm config get nodedir 2>/dev/null || true)
[[ -n "$nodedir" && "$nodedir" != "undefined" && "$nodedir" != "null" ]] && args+=("--nodedir=$nodedir")
if [[ -n "$gyp" ]]; then
  node "$gyp" "${args[@]}" >build.log 2>&1 || { tail -20 build.log >&2; echo "build-onednn: node-gyp failed (build.log); the wasm kernels are used" >&2; exit 1; }
else
  pnpm dlx node-gyp "${args[@]}" >build.log 2>&1 || { tail -20 build.log >&2; echo "build-onednn: node-gyp failed (build.log); the wasm kernels are used" >&2; exit 1; }
fi
node -e "const a = require('./build/Release/parts_onednn.node'); const i = a.info(); console.log('build-onednn: built the oneDNN addon (oneDNN ' + i.version + ', ' + i.isa + ')')"
