#!/usr/bin/env bash
# The local run: installs what is missing, starts MongoDB and RabbitMQ if none answers, then the simulator
# (seeded with demo contracts) and the three services; connects a demo tenant, imports, prints a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/ensure-services.sh
exec .venv/bin/python scripts/run_local.py
