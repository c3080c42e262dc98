#!/usr/bin/env bash
# One-command GPU check, for a machine with an NVIDIA GPU and the CUDA toolkit
# but no Bun, no Node and no package registry (../shared/reference/gpu-machine.md):
#   1. preflight   nvcc, cmake, ninja, g++, python3 + numpy, the carried inputs
#   2. ctranslate2 CTranslate2 4.8.4 from the carried ct2rs crate, built for
#                  the GPU's architecture only (9.0 on an H200), CUDA without
#                  cuDNN, no CPU BLAS (the flags of CTranslate2's own CUDA build,
#                  python/tools/prepare_build_environment_linux.sh, less MKL/DNNL)
#   3. shim        native/ against that library (native/build.sh)
#   4. checks      bench/gpu/driver.py through the shim's C ABI: CUDA checks
#                  (they fail, not skip, without a GPU when STT_REQUIRE_CUDA=1,
#                  the default here), then throughput at batch sizes 1..32
# Results (4 files, within the device tool's 8): gpu-results.json, environment.txt,
# steps.txt (step, exit code, seconds) and logs.txt (the tail of every step's
# log) in $OUT when set, else .cache/gpu-work/out; whole logs in .cache/gpu-work/logs.
#
# Every step is time-boxed and re-runnable: a step whose output exists is
# skipped, and the script stops cleanly before STT_GPU_DEADLINE seconds (default
# 560, under a 600 s command limit) saying to run it again, which resumes.
#
#   bash bench/gpu/run.sh        (bun run bench:gpu)
# Prepare the carried inputs first, elsewhere: bash bench/gpu/prepare.sh.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
IN=${STT_GPU_CACHE:-$ROOT/.cache/gpu}
WORK=${STT_GPU_WORK:-$ROOT/.cache/gpu-work}
RESULTS=${OUT:-$WORK/out}
DEADLINE=${STT_GPU_DEADLINE:-560}
export STT_REQUIRE_CUDA=${STT_REQUIRE_CUDA:-1}
CT2RS_VERSION=0.10.3
START=$SECONDS
LOGS=$WORK/logs
mkdir -p "$WORK" "$RESULTS" "$LOGS"
touch "$RESULTS/steps.txt"
collect_logs() {
  local name
  : >"$RESULTS/logs.txt"
  for name in $(cut -d' ' -f1 "$RESULTS/steps.txt"); do
    { echo "=== $name (last 300 lines of $LOGS/$name.log)"; tail -n 300 "$LOGS/$name.log"; } >>"$RESULTS/logs.txt" 2>/dev/null
  done
}
trap collect_logs EXIT

log() { printf '[gpu] %s\n' "$*"; }
die() {
  printf '[gpu] FAILED: %s\n' "$*" >&2
  exit "${2:-1}"
}
# missing <what> <why>: the first missing piece ends the run with exit code 2.
missing() { die "missing $1: $2" 2; }
left() { echo $((DEADLINE - (SECONDS - START))); }
# step <name> <budget s> <command...>: runs with a time box; a step that would
# outlive the deadline is not started. A failing step ends the run, unless
# STEP_MAY_FAIL=1 (then it returns its exit code).
step() {
  local name=$1 budget=$2
  shift 2
  local remaining
  remaining=$(left)
  if [ "$remaining" -lt 30 ]; then
    log "stopping before '$name': ${remaining}s left of ${DEADLINE}s; run bench/gpu/run.sh again to resume"
    exit 3
  fi
  [ "$budget" -gt "$remaining" ] && budget=$remaining
  log "step $name (at most ${budget}s; log $LOGS/$name.log)"
  local t0=$SECONDS
  timeout --kill-after=10 "$budget" "$@" >"$LOGS/$name.log" 2>&1
  local rc=$?
  echo "$name $rc $((SECONDS - t0))" >>"$RESULTS/steps.txt"
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    tail -20 "$LOGS/$name.log" >&2
    log "step $name ran out of its ${budget}s; run bench/gpu/run.sh again to resume (finished work is kept)"
    exit 3
  fi
  if [ $rc -ne 0 ] && [ "${STEP_MAY_FAIL:-0}" = 1 ]; then
    log "step $name exited $rc (log $LOGS/$name.log)"
    return $rc
  fi
  if [ $rc -ne 0 ]; then
    tail -40 "$LOGS/$name.log" >&2
    die "step $name exited $rc (whole log: $LOGS/$name.log)"
  fi
  log "step $name done in $((SECONDS - t0))s"
}

# --- 1. preflight -----------------------------------------------------------
NVCC=$(command -v nvcc || true)
for d in "${CUDA_HOME:-}" /usr/local/cuda; do
  [ -z "$NVCC" ] && [ -n "$d" ] && [ -x "$d/bin/nvcc" ] && NVCC=$d/bin/nvcc
done
[ -n "$NVCC" ] || missing "nvcc (the CUDA compiler)" "this check builds CTranslate2 for CUDA; run it on a machine with the CUDA toolkit (set CUDA_HOME if nvcc is not on PATH)"
CUDA_ROOT=$(cd "$(dirname "$NVCC")/.." && pwd)
command -v cmake >/dev/null || missing cmake "needed to build CTranslate2"
command -v ninja >/dev/null || missing ninja "needed to build CTranslate2"
command -v g++ >/dev/null || missing "g++" "needed to build CTranslate2 and the shim"
command -v python3 >/dev/null || missing python3 "runs bench/gpu/driver.py"
python3 -c "import numpy" 2>/dev/null || missing "numpy (python3)" "bench/gpu/driver.py needs it"
crate=$IN/ct2rs-$CT2RS_VERSION.crate
model=$IN/tiny.en-int8_float16
[ -s "$crate" ] || missing "$crate" "carry .cache/gpu (made by bash bench/gpu/prepare.sh)"
[ -s "$model/model.bin" ] || missing "$model/model.bin" "carry .cache/gpu (made by bash bench/gpu/prepare.sh)"
[ -s "$IN/jfk_16k.wav" ] || missing "$IN/jfk_16k.wav" "carry .cache/gpu (made by bash bench/gpu/prepare.sh)"
{
  echo "nvcc: $NVCC"
  "$NVCC" --version | tail -2
  cmake --version | head -1
  echo "ninja $(ninja --version)"
  g++ --version | head -1
  python3 --version
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1 || echo "nvidia-smi: none"
  nproc
} >"$RESULTS/environment.txt" 2>&1
cat "$RESULTS/environment.txt"
ARCH=${STT_CUDA_ARCH:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' ')}
ARCH=${ARCH:-9.0}
JOBS=$(nproc)

# Headers of the CUDA libraries CTranslate2 includes (cuBLAS, cuRAND) and
# libcublas.so.<major> (loaded at run time): from the toolkit, else from the
# NVIDIA Python packages (nvidia/cu13/{include,lib} for CUDA 13 wheels,
# nvidia/<library>/{include,lib} for CUDA 12 ones).
py_nvidia_dirs() {
  python3 - "$1" <<'PY' 2>/dev/null || true
import glob, os, sys
seen = set()
for p in sys.path:
    for hit in sorted(glob.glob(os.path.join(p, "nvidia", "*", sys.argv[1]))):
        d = os.path.dirname(os.path.dirname(hit)) if "/" in sys.argv[1] else os.path.dirname(hit)
        if d not in seen:
            seen.add(d)
            print(d)
PY
}
EXTRA_INC=""
for h in cublas_v2.h curand_kernel.h; do
  [ -f "$CUDA_ROOT/include/$h" ] && continue
  d=$(py_nvidia_dirs "include/$h" | head -1)
  [ -n "$d" ] || missing "$h" "install the CUDA toolkit's development headers (or the NVIDIA Python package that carries them)"
  case " $EXTRA_INC " in *" -I$d/include "*) ;; *) EXTRA_INC="$EXTRA_INC -I$d/include" ;; esac
done
CUBLAS_LIB=""
for d in "$CUDA_ROOT/lib64" "$CUDA_ROOT/lib" "$CUDA_ROOT/targets/x86_64-linux/lib"; do
  ls "$d"/libcublas.so.* >/dev/null 2>&1 && CUBLAS_LIB=$d && break
done
[ -n "$CUBLAS_LIB" ] || CUBLAS_LIB=$(py_nvidia_dirs "lib/libcublas.so.*" | head -1)/lib
ls "$CUBLAS_LIB"/libcublas.so.* >/dev/null 2>&1 || missing "libcublas.so" "install the CUDA toolkit's cuBLAS or the nvidia-cublas Python package"
EXTRA_INC=${EXTRA_INC# }
log "cuda $CUDA_ROOT, arch $ARCH, extra headers ${EXTRA_INC:-none}, cuBLAS libs $CUBLAS_LIB, $JOBS jobs"

# --- 2. CTranslate2 ------------------------------------------------------------
SRC=$WORK/ct2rs/CTranslate2
PREFIX=$WORK/ct2-install
if [ ! -f "$SRC/CMakeLists.txt" ]; then
  step unpack 60 bash -c "rm -rf '$WORK/ct2rs' && mkdir -p '$WORK/ct2rs' && tar -xzf '$crate' -C '$WORK/ct2rs' --strip-components=1"
fi
if [ ! -f "$PREFIX/lib/libctranslate2.so" ]; then
  # CTranslate2 puts its vendored thrust/cub (CCCL 2.7) before the toolkit's.
  # Probe that with one thrust+cub kernel file first (seconds, not the whole
  # build); if CUDA 13's nvcc rejects it, build against the toolkit's own CCCL.
  if [ ! -f "$WORK/cccl.choice" ]; then
    probe="$NVCC -std=c++17 -arch=sm_${ARCH/./} -c $SRC/src/cuda/primitives.cu -o $WORK/probe.o -DCT2_WITH_CUDA -I$SRC/include -I$SRC/src -I$SRC/third_party/thrust/cub -I$SRC/third_party/thrust/thrust -I$SRC/third_party/thrust/libcudacxx/include -I$SRC/third_party/cutlass/include $EXTRA_INC -I$SRC/third_party/spdlog/include"
    if STEP_MAY_FAIL=1 step cccl-probe 240 bash -c "$probe"; then echo vendored >"$WORK/cccl.choice"; fi
  fi
  if [ "$(cat "$WORK/cccl.choice" 2>/dev/null)" != vendored ]; then
    log "the vendored thrust/cub did not compile with this nvcc: using the toolkit's CCCL"
    rm -rf "$SRC/third_party/thrust"
    echo toolkit >"$WORK/cccl.choice"
  fi
  if [ ! -f "$WORK/ct2-build/build.ninja" ]; then
    step ct2-configure 180 cmake -S "$SRC" -B "$WORK/ct2-build" -G Ninja \
      -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$PREFIX" \
      -DCMAKE_POLICY_VERSION_MINIMUM=3.5 \
      -DWITH_CUDA=ON -DWITH_CUDNN=OFF -DCUDA_DYNAMIC_LOADING=ON -DCUDA_ARCH_LIST="$ARCH" \
      -DCUDA_TOOLKIT_ROOT_DIR="$CUDA_ROOT" -DCUDA_NVCC_FLAGS="${EXTRA_INC// /;}" -DCMAKE_CXX_FLAGS="$EXTRA_INC" \
      -DWITH_MKL=OFF -DWITH_DNNL=OFF -DWITH_RUY=OFF -DOPENMP_RUNTIME=NONE \
      -DBUILD_CLI=OFF -DBUILD_TESTS=OFF
  fi
  step ct2-build 540 cmake --build "$WORK/ct2-build" --parallel "$JOBS"
  step ct2-install 60 cmake --install "$WORK/ct2-build"
fi
CT2_LIBDIR=$PREFIX/lib
[ -f "$CT2_LIBDIR/libctranslate2.so" ] || CT2_LIBDIR=$PREFIX/lib64
[ -f "$CT2_LIBDIR/libctranslate2.so" ] || die "no libctranslate2.so under $PREFIX after the build"

# --- 3. shim --------------------------------------------------------------------
SHIM_DIR=$WORK/shim
step shim 180 env CT2_LIB_DIR="$CT2_LIBDIR" CT2_INCLUDE_DIR="$PREFIX/include" STT_BUILD_DIR="$SHIM_DIR" bash native/build.sh

# --- 4. checks and throughput --------------------------------------------------------
export LD_LIBRARY_PATH="$CT2_LIBDIR:$CUBLAS_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
step driver 300 env PYTHONUNBUFFERED=1 python3 bench/gpu/driver.py --lib "$SHIM_DIR/libsttwhisper.so" \
  --model "$model" --audio "$IN/jfk_16k.wav" --out "$RESULTS/gpu-results.json" \
  --batches "${STT_GPU_BATCHES:-1,2,4,8,16,32}"
cat "$LOGS/driver.log"
log "results: $RESULTS/gpu-results.json (total $((SECONDS - START))s)"
