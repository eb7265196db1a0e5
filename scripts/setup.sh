#!/usr/bin/env bash
# Installs what the project needs into .venv (pinned by requirements.lock) and the MongoDB-compatible
# test server into .mongo-venv. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum requirements.lock libs/common/pyproject.toml services/*/pyproject.toml simulator/pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements.lock
  .venv/bin/pip install -q --no-deps -e libs/common -e services/gateway -e services/importer -e services/mapper -e simulator
  touch "$stamp"
fi
# MongoDB: Debian ships none and no Docker engine may run, so tests and the local run use secantusdb, a
# MongoDB wire-protocol server on PyPI, in its own venv (it pulls numpy and shapely). Production uses mongo:7.
if [ ! -x .mongo-venv/bin/secantusd-py ]; then
  "$PYTHON" -m venv .mongo-venv
  .mongo-venv/bin/pip install -q secantusdb==0.7.0b3
fi
