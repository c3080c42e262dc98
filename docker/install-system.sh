#!/usr/bin/env bash
# Docker build step 1 (also run by CI outside Docker, where it only checks):
# the Debian/Ubuntu packages scripts/setup.sh expects to find — a C++
# compiler for the shim, Python + pip to unpack the CTranslate2 and CUDA
# wheels, curl for the header crate, npm to install Bun.
set -euo pipefail
pkgs=(ca-certificates curl g++ python3 python3-pip npm)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "[docker] system packages present"
  exit 0
fi
if [ "${CHECK_ONLY:-0}" = 1 ]; then
  echo "[docker] would apt-get install: ${missing[*]}"
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
rm -rf /var/lib/apt/lists/*
echo "[docker] installed ${missing[*]}"
