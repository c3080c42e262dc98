#!/usr/bin/env bash
# Builds native/build/libsttwhisper.so against the CTranslate2 wheel library.
# Inputs (env): CT2_LIB_DIR (holds libctranslate2.so), CT2_INCLUDE_DIR;
# STT_BUILD_DIR (default native/build) for another build, e.g. the GPU check's.
set -euo pipefail
cd "$(dirname "$0")"
: "${CT2_LIB_DIR:?CT2_LIB_DIR must point at the unpacked ctranslate2 wheel libs (run scripts/setup.sh)}"
: "${CT2_INCLUDE_DIR:?CT2_INCLUDE_DIR must point at CTranslate2/include (run scripts/setup.sh)}"
BUILD_DIR=${STT_BUILD_DIR:-build}
mkdir -p "$BUILD_DIR"
out=$BUILD_DIR/libsttwhisper.so
srcs=(src/*.cpp)
if [ -f "$out" ] && [ -z "$(find src include build.sh -newer "$out" -print -quit)" ]; then
  exit 0
fi
# The wheel is built with the C++11 std::string ABI; check rather than assume,
# because a mismatch links fine and then corrupts strings at run time.
# (grep -c, not grep -q: -q exits early, nm dies of SIGPIPE and pipefail would say "no".)
if [ "$(nm -DC "$CT2_LIB_DIR/libctranslate2.so" | grep -c '__cxx11')" -gt 0 ]; then abi=1; else abi=0; fi
g++ -std=c++17 -O3 -fPIC -shared -fvisibility=hidden -D_GLIBCXX_USE_CXX11_ABI=$abi \
  -Iinclude -I"$CT2_INCLUDE_DIR" "${srcs[@]}" \
  -L"$CT2_LIB_DIR" -l:libctranslate2.so \
  -Wl,-rpath,"$CT2_LIB_DIR" -Wl,--no-undefined -pthread \
  -o "$out.tmp"
mv "$out.tmp" "$out"
echo "[native] built $out (cxx11 abi=$abi)"
