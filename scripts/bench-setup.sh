#!/usr/bin/env bash
# Everything the benchmarks need, from a fresh clone: the server set-up, the
# test tools (faster-whisper for the floor, espeak-ng for speech), matplotlib.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
bash scripts/test-setup.sh >/dev/null
python3 -c "import matplotlib" >/dev/null 2>&1 || python3 -m pip install -q matplotlib
