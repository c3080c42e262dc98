#!/usr/bin/env bash
# What the test suite needs beyond scripts/setup.sh: Debian tools that make and
# decode audio, a real Redis, HAProxy (failover test) and a real Chromium, openssl (a TLS terminator's certificate), the Python reference
# (faster-whisper) and Python clients, and the multilingual model. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=()
for pair in ffmpeg:ffmpeg espeak-ng:espeak-ng sox:sox redis-server:redis-server haproxy:haproxy chromium:chromium openssl:openssl; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || pkgs+=("$pkg")
done
if [ ${#pkgs[@]} -gt 0 ]; then
  echo "[test-setup] apt-get install ${pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

if ! python3 -c "import faster_whisper, socketio, aiohttp" >/dev/null 2>&1; then
  echo "[test-setup] pip install faster-whisper, python-socketio"
  python3 -m pip install -q "faster-whisper==1.2.1" "ctranslate2==4.8.4" "python-socketio==5.*" "aiohttp==3.*"
fi

# The front doors' real clients, pinned to the versions the tests were written against:
# Deepgram's Python SDK, Pipecat (Deepgram and OpenAI Realtime services), LiveKit's Deepgram
# plugin, and the openai SDK's realtime client (one resolver run, so the pins agree).
if ! python3 -c "import deepgram, pipecat.services.deepgram.stt, pipecat.services.openai.stt, livekit.plugins.deepgram, openai, websockets" >/dev/null 2>&1; then
  echo "[test-setup] pip install deepgram-sdk, pipecat-ai[deepgram], livekit-plugins-deepgram, openai[realtime]"
  python3 -m pip install -q "deepgram-sdk==7.17.0" "pipecat-ai[deepgram]==1.14.0" "livekit-plugins-deepgram==1.8.9" "openai[realtime]==3.51.0"
fi

bash scripts/fetch-model.sh base
