# The oneDNN training kernels addon (N-API, no node-addon-api): built by scripts/setup.sh where
# Debian's libdnnl-dev is installed; the loader (src/onednn/addon.ts) falls back to the wasm kernels
# when build/Release/parts_onednn.node is missing.
{
  "targets": [
    {
      "target_name": "parts_onednn",
      "sources": ["onednn.cc"],
      "cflags_cc": ["-O2", "-std=c++17", "-fexceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": ["-ldnnl", "-lgomp"]
    }
  ]
}
