#!/usr/bin/env bash
# Docker build step 2: the CUDA libraries CTranslate2 loads at run time
# (cuBLAS, cuDNN 9), from their PyPI packages, into a prefix of their own.
# The image points LD_LIBRARY_PATH at them (see cuda_lib_path below).
#   install-cuda-libs.sh [PREFIX]        install (default /opt/cuda-libs)
#   install-cuda-libs.sh --check         resolve the pinned versions only (CI)
set -euo pipefail
CUBLAS=nvidia-cublas-cu12==12.9.1.4
CUDNN=nvidia-cudnn-cu12==9.10.2.21
if [ "${1:-}" = "--check" ]; then
  report=$(mktemp); trap 'rm -f "$report"' EXIT
  python3 -m pip install -q --dry-run --ignore-installed --only-binary=:all: \
    --platform manylinux_2_27_x86_64 --python-version 3.10 --target /tmp/cuda-libs-check \
    --report "$report" "$CUBLAS" "$CUDNN"
  python3 - "$report" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("[docker] cuda libs resolve:", ", ".join(f"{i['metadata']['name']}=={i['metadata']['version']}" for i in r["install"]))
PY
  exit 0
fi
PREFIX=${1:-/opt/cuda-libs}
python3 -m pip install -q --no-cache-dir --only-binary=:all: --target "$PREFIX" "$CUBLAS" "$CUDNN"
# Only the shared libraries are needed at run time.
find "$PREFIX" -name '*.a' -delete
echo "[docker] cuda libs in $PREFIX: $(ls -d "$PREFIX"/nvidia/*/lib | tr '\n' ' ')"
