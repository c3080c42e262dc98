#!/usr/bin/env bash
# Installs Pipecat's Smart Turn v3.2 end-of-turn model (int8 ONNX, CPU build)
# into models/smart-turn/ from the pipecat-ai wheel on PyPI, which carries it.
# Idempotent: does nothing once the checked file is in place.
set -euo pipefail
cd "$(dirname "$0")/.."
PKG=pipecat-ai==1.14.0
MEMBER=pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx
SHA256=2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f
dest=models/smart-turn
model=$dest/smart-turn-v3.2-cpu.onnx
if [ -f "$model" ] && echo "$SHA256  $model" | sha256sum -c --status; then exit 0; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --no-deps -d "$tmp" "$PKG"
python3 - "$tmp" "$dest" "$MEMBER" <<'PY'
import sys, zipfile, glob, os, shutil
tmp, dest, member = sys.argv[1:4]
with zipfile.ZipFile(glob.glob(os.path.join(tmp, "*.whl"))[0]) as z:
    meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
    fields = [l.split(":", 1)[1].strip() for l in z.read(meta).decode().splitlines() if l.startswith("License-Expression:")]
    lic = next((n for n in z.namelist() if ".dist-info/" in n and n.rsplit("/", 1)[-1] == "LICENSE"), None)
    text = z.read(lic).decode() if lic else ""
    # The weights are redistributed under the wheel's licence: refuse anything else.
    if fields != ["BSD-2-Clause"] or not text.startswith("BSD 2-Clause License"):
        sys.exit(f"pipecat-ai licence is {fields} / {text[:40]!r}, expected BSD-2-Clause; not installing")
    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(dest, "LICENSE"), "w") as f: f.write(text)
    with z.open(member) as s, open(os.path.join(dest, "model.onnx.tmp"), "wb") as d: shutil.copyfileobj(s, d)
PY
echo "$SHA256  $dest/model.onnx.tmp" | sha256sum -c --status || { echo "smart-turn model checksum mismatch" >&2; exit 1; }
mv "$dest/model.onnx.tmp" "$model"
echo "[setup] smart-turn v3.2 in $dest"
