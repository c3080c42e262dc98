#!/usr/bin/env bash
# The whole test suite from a fresh machine: set-up, test dependencies, bun test.
# Ends with one summary line "tests: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/test-setup.sh
mkdir -p test/artifacts
set +e
bun test --timeout 120000 "$@" 2>&1 | tee test/artifacts/bun-test.log
rc=${PIPESTATUS[0]}
set -e
pass=$(grep -Eo '^ *[0-9]+ pass$' test/artifacts/bun-test.log | tail -1 | tr -dc 0-9)
fail=$(grep -Eo '^ *[0-9]+ fail$' test/artifacts/bun-test.log | tail -1 | tr -dc 0-9)
echo "tests: ${pass:-0} passed, ${fail:-0} failed"
exit "$rc"
