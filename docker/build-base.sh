#!/usr/bin/env bash
# Docker build step 3: everything scripts/setup.sh does (Bun, npm packages,
# CTranslate2 library + matching headers, the native shim, the default
# tiny.en model), then a check that the shim links. CI runs scripts/setup.sh
# itself, so this stays a thin wrapper.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
test -f native/build/libsttwhisper.so
ldd native/build/libsttwhisper.so | grep -q "not found" && { ldd native/build/libsttwhisper.so; exit 1; }
echo "[docker] base ready: bun $(bun --version), shim native/build/libsttwhisper.so"
