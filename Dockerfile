# syntax=docker/dockerfile:1
# Real-time speech-to-text server: Bun + Silero VAD + Whisper on CTranslate2 (CUDA 12).
#
#   docker build -t bun-whisper-stt .
#   docker compose up -d          (GPU reservation and the data/ volume: docker-compose.yml)
#
# Stage "base": CUDA 12 runtime, Bun, the CTranslate2 library, cuBLAS/cuDNN from
# PyPI, the native shim and npm packages — every step is a script CI also runs.
# Stage "app": adds the source. Configuration and models come from the volume
# at /app/data (data/configuration/stt.server.settings.json, data/models/...).

FROM nvidia/cuda:12.4.1-runtime-ubuntu22.04 AS base
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /app

COPY docker/install-system.sh docker/
RUN bash docker/install-system.sh

COPY docker/install-cuda-libs.sh docker/
RUN bash docker/install-cuda-libs.sh /opt/cuda-libs
ENV LD_LIBRARY_PATH=/opt/cuda-libs/nvidia/cublas/lib:/opt/cuda-libs/nvidia/cudnn/lib

# What scripts/setup.sh needs: the dependency manifests, the shim's sources, the scripts.
COPY package.json bun.lock bunfig.toml ./
COPY scripts/ scripts/
COPY native/ native/
COPY docker/build-base.sh docker/
RUN bash docker/build-base.sh \
    && rm -rf /root/.cache /root/.npm /app/.cache/ctranslate2-*/wheel

FROM base AS app
# Non-root: uid/gid 10001. A bind-mounted data/ must be readable by it
# (and writable only if you want the server to write there; it does not).
RUN groupadd --system --gid 10001 stt \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin stt \
    && mkdir -p /app/data/configuration /app/data/models \
    && chown -R 10001:10001 /app/data
COPY tsconfig.json ./
COPY src/ src/
COPY ffi/ ffi/
COPY public/ public/
COPY docker/healthcheck.ts docker/
USER 10001:10001
ENV NODE_ENV=production
VOLUME ["/app/data"]
EXPOSE 2700
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD ["bun", "run", "docker/healthcheck.ts"]
ENTRYPOINT ["bun", "run", "src/cli.ts"]
