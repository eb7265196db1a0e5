# syntax=docker/dockerfile:1.7
# One file, one target per service:
#   docker build --target gateway   -t contracts-ai/gateway   .
#   docker build --target importer  -t contracts-ai/importer  .
#   docker build --target mapper    -t contracts-ai/mapper    .
#   docker build --target simulator -t contracts-ai/simulator .
# The builder stage has the compilers and turns requirements.lock plus the project's own packages into
# wheels; the final images only install those wheels (BuildKit bind mount, so no wheel stays in a layer).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# A lock without test-only tools may be passed instead, e.g. --build-arg REQUIREMENTS=requirements-runtime.lock
ARG REQUIREMENTS=requirements.lock

# ---------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder
ARG REQUIREMENTS
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY ${REQUIREMENTS} /wheels/requirements.lock
# Third-party wheels, exactly the locked versions (hashes are checked when the lock carries them).
RUN pip wheel --wheel-dir /wheels/deps -r /wheels/requirements.lock
COPY libs/common ./libs/common
COPY services/gateway ./services/gateway
COPY services/importer ./services/importer
COPY services/mapper ./services/mapper
COPY simulator ./simulator
RUN pip wheel --no-deps --wheel-dir /wheels/local \
        ./libs/common ./services/gateway ./services/importer ./services/mapper ./simulator

# ---------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
# tini runs as PID 1 and forwards SIGTERM to the service, which then shuts down gracefully.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /app \
    && chown app:app /app \
    && python -m venv /opt/venv
# Every locked third-party dependency (the lock is complete, hence --no-deps).
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --no-deps /wheels/deps/*.whl
WORKDIR /app
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--"]

# ---------------------------------------------------------------------------------------------------------
FROM runtime AS gateway
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --no-deps /wheels/local/contracts_common-*.whl /wheels/local/gateway-*.whl
USER 10001:10001
ENV GATEWAY_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('GATEWAY_PORT', '8080') + '/healthz', timeout=4)"]
CMD ["python", "-m", "gateway"]

# ---------------------------------------------------------------------------------------------------------
FROM runtime AS importer
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --no-deps /wheels/local/contracts_common-*.whl /wheels/local/importer-*.whl
USER 10001:10001
# Workers serve /healthz, /readyz and /metrics here (0 would disable it, and the HEALTHCHECK with it).
ENV HEALTH_PORT=8081
EXPOSE 8081
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('HEALTH_PORT', '8081') + '/healthz', timeout=4)"]
CMD ["python", "-m", "importer"]

# ---------------------------------------------------------------------------------------------------------
FROM runtime AS mapper
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --no-deps /wheels/local/contracts_common-*.whl /wheels/local/mapper-*.whl
USER 10001:10001
ENV HEALTH_PORT=8081
EXPOSE 8081
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('HEALTH_PORT', '8081') + '/healthz', timeout=4)"]
CMD ["python", "-m", "mapper"]

# ---------------------------------------------------------------------------------------------------------
# Demo and test only: a stand-in for Ironclad's API.
FROM runtime AS simulator
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --no-deps /wheels/local/contracts_common-*.whl /wheels/local/ironclad_simulator-*.whl
USER 10001:10001
EXPOSE 9000
# A TCP connect: the simulator's HTTP surface mimics Ironclad, so no health path is assumed.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import socket; socket.create_connection(('127.0.0.1', 9000), timeout=4).close()"]
CMD ["python", "-m", "ironclad_simulator", "--host", "0.0.0.0", "--port", "9000", "--seed-demo", "50"]
