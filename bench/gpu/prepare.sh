#!/usr/bin/env bash
# Run HERE (a machine with the registries), before a GPU check: puts what the
# GPU machine cannot fetch into one ignored folder to carry (docs/benchmarks.md,
# "GPU check"):
#   .cache/gpu/ct2rs-<v>.crate       CTranslate2's full source as crates.io's ct2rs
#                                   vendors it (CUDA kernels, thrust/cub, cutlass)
#   .cache/gpu/tiny.en-int8_float16/ tiny.en re-quantized (bench/gpu/quantize.py):
#                                   37 MiB instead of float16's 72
#   .cache/gpu/jfk_16k.wav           the speech clip the checks transcribe
# and checks that tracked tree + this folder fit the 64 MiB carry limit.
#
#   bash bench/gpu/prepare.sh            (STT_GPU_CACHE overrides the folder)
set -euo pipefail
cd "$(dirname "$0")/../.."
CT2RS_VERSION=0.10.3 # vendors CTranslate2 4.8.4, as scripts/setup.sh
DEST=${STT_GPU_CACHE:-.cache/gpu}
AUDIO=${STT_SHARED_AUDIO:-../shared/audio}
mkdir -p "$DEST"

crate=$DEST/ct2rs-$CT2RS_VERSION.crate
if [ ! -s "$crate" ]; then
  echo "[gpu-prepare] fetching ct2rs $CT2RS_VERSION (CTranslate2 sources)"
  curl -sSfL "https://static.crates.io/crates/ct2rs/ct2rs-$CT2RS_VERSION.crate" -o "$crate.tmp"
  mv "$crate.tmp" "$crate"
fi

model=$DEST/tiny.en-int8_float16
if [ ! -s "$model/model.bin" ]; then
  [ -s models/tiny.en/model.bin ] || { echo "[gpu-prepare] models/tiny.en missing: run bash scripts/setup.sh" >&2; exit 1; }
  python3 -c "import numpy" 2>/dev/null || { echo "[gpu-prepare] numpy missing: python3 -m pip install numpy" >&2; exit 1; }
  python3 bench/gpu/quantize.py models/tiny.en "$model"
fi

[ -s "$AUDIO/jfk_16k.wav" ] || { echo "[gpu-prepare] $AUDIO/jfk_16k.wav missing (set STT_SHARED_AUDIO)" >&2; exit 1; }
install -m 644 "$AUDIO/jfk_16k.wav" "$DEST/jfk_16k.wav"

carried=$(du -sbL "$DEST" | cut -f1)
tracked=$(git ls-files -z | xargs -0 du -cbL 2>/dev/null | tail -1 | cut -f1)
total=$((carried + tracked))
awk -v d="$DEST" -v c="$carried" -v t="$tracked" -v s="$total" \
  'BEGIN { printf "[gpu-prepare] %s: %.1f MiB, tracked tree %.1f MiB, together %.1f of 64 MiB\n", d, c / 1048576, t / 1048576, s / 1048576 }'
if [ "$total" -gt $((64 * 1048576)) ]; then
  echo "[gpu-prepare] over the 64 MiB carry limit" >&2
  exit 1
fi
