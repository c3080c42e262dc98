#!/usr/bin/env bash
# The whole test suite from a fresh machine: set-up, test dependencies, bun test.
# Ends with one summary line "tests: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/test-setup.sh
# The tests stream real speech from ../shared/audio beside the checkout. A clone
# of a local checkout (git clone . /tmp/x) finds it beside the checkout it came from.
if [ -z "${STT_SHARED_AUDIO:-}" ] && [ ! -d ../shared/audio ]; then
  origin=$(git config --get remote.origin.url 2>/dev/null || true)
  if [ -n "$origin" ] && [ -d "$origin/../shared/audio" ]; then
    STT_SHARED_AUDIO=$(cd "$origin/../shared/audio" && pwd)
    export STT_SHARED_AUDIO
    echo "[test] shared clips: $STT_SHARED_AUDIO"
  fi
fi
mkdir -p test/artifacts
set +e
bun test --timeout 120000 "$@" 2>&1 | tee test/artifacts/bun-test.log
rc=${PIPESTATUS[0]}
set -e
pass=$(grep -Eo '^ *[0-9]+ pass$' test/artifacts/bun-test.log | tail -1 | tr -dc 0-9)
fail=$(grep -Eo '^ *[0-9]+ fail$' test/artifacts/bun-test.log | tail -1 | tr -dc 0-9)
echo "tests: ${pass:-0} passed, ${fail:-0} failed"
exit "$rc"
